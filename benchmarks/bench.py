"""One table of speeds, measured in one run on this machine (not a timed test).

    python benchmarks/bench.py [--json bench.json] [--config configs/x.json] [--steps N]

* training images/s of the whole GAN step (adversarial phase) for: eager, compiled
  (tf.function), + XLA, + mixed precision, and on the Keras JAX backend (XLA, float32 and
  mixed bfloat16; a child process); each one's ratio to eager and share of the peak; and
  on TensorFlow the tf.function step of the networks as `models` builds them, from Keras'
  plain layers, without the speed layers that training swaps in (`function_keras_layers`:
  `build_gan(fast_layers=False)`), timed in the same rounds;
* input pipeline images/s: JPEG folder (decode + crop + resize per image) vs prepared
  uint8 arrays (`dcgan-sr prepare`) vs the same crops from TFRecords through tf.data,
  and (LR, HR) pairs made by the realistic degradation mix (`--degradation realistic`);
* upscale images/s (32 -> 128) of the generator in Keras on this backend, in Keras on the
  JAX backend (a child process), and exported to ONNX in ONNX Runtime (the route
  `Upscaler` takes on a CPU), vs Pillow bicubic; and each one's achieved FLOP/s as a
  fraction of the peak FLOP/s measured with a large matmul;
* the generator's and discriminator's FLOPs per image (multiply-adds x 2 of every
  Conv2D and Dense layer, from their output shapes), and the CPU's model and flags.

Runs under either Keras backend (KERAS_BACKEND=tensorflow, the default, or jax). A
variant that does not apply on this backend or device is null, with the reason printed.
The model is the seed's (the default config) unless --config says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


import keras
import numpy as np
from PIL import Image

from dcgan_sr import data, decoding, degrade, execution, prepare, upscaler
from dcgan_sr.batches import DegradedBatches, HRBatches
from dcgan_sr.config import Config
from dcgan_sr.gan import SRGAN
from dcgan_sr.models import build_discriminator, build_generator
from dcgan_sr.train import build_gan
from dcgan_sr.runtime import cpu_features, device_name, has_tensorflow, installed, start_tensorflow


def layer_flops(model: keras.Model, input_shape: tuple) -> float:
    """FLOPs (2 x multiply-adds) of a model's Conv2D and Dense layers for one image."""
    layers = [l for l in model.layers
              if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense))]
    probe = keras.Model(model.input, [l.output for l in layers])
    outputs = probe(np.zeros((1, *input_shape), np.float32))
    total = 0.0
    for layer, out in zip(layers, outputs):
        positions = float(np.prod(out.shape[1:-1]))
        total += 2.0 * positions * float(np.prod(layer.kernel.shape))
    return total


def peak_gflops(gpu: bool, dtype: str = "float32", seconds: float = 2.0) -> float:
    """FLOP/s of a large square matmul through the backend (its best case): the best of
    two sizes (4096 and 8192 on a GPU, 1024 and 2048 on a CPU)."""
    matmul = keras.ops.matmul
    if keras.backend.backend() == "jax":
        import jax
        matmul = jax.jit(matmul)
    best = 0.0
    for n in (4096, 8192) if gpu else (1024, 2048):
        a = keras.ops.cast(np.random.default_rng(0).random((n, n), np.float32), dtype)
        keras.ops.convert_to_numpy(keras.ops.cast(matmul(a, a), "float32"))
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 2:
            c = matmul(a, a)
            runs += 1
        keras.ops.convert_to_numpy(keras.ops.cast(c, "float32"))
        best = max(best, 2 * n ** 3 * runs / (time.perf_counter() - start) / 1e9)
    return best


def step_gflop(generator: float, discriminator: float, config: Config) -> float:
    """FLOPs of one adversarial train step per image, from G's and D's forward FLOPs. A
    backward pass costs two forwards (gradients of the activations and of the weights),
    one where only the input's gradient is needed (D under G's loss).

    d_then_g (the seed's): D's half runs G forward (1G) and D forward and backward on the
    real and the super-resolved batch (6D); G's half runs G forward and backward (3G) and
    D forward and back to its input on G's faces (2D), and D forward on the real ones if
    G's loss reads them (RaGAN: 1D). simultaneous: G forward and backward (3G); D forward
    and backward on real faces (3D) and on G's, where D's loss wants D's weight gradients
    and G's loss the input's (4D)."""
    from dcgan_sr.losses import ADVERSARIAL

    if config.update_order == "simultaneous":
        return 3 * generator + 7 * discriminator
    reads_real = ADVERSARIAL[config.gan_loss].generator_reads_real
    return 4 * generator + (9 if reads_real else 8) * discriminator


class _SameBatch(keras.utils.PyDataset):
    """The same uint8 HR batch each step: the train step alone, no input pipeline."""

    def __init__(self, batch, steps):
        super().__init__()
        self.batch, self.steps = batch, steps

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        return self.batch


class _EpochTimes(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        float(logs["g_loss"])  # wait for the device
        self.last = time.perf_counter() - self.start


def compiled_gan(config: Config, policy: str, jit: bool, eager: bool, hr: np.ndarray,
                 fast_layers: bool = True) -> SRGAN:
    """The GAN of one variant, its adversarial train step compiled by one step on `hr`
    (with Keras' plain layers, not the speed layers, where `fast_layers` is False)."""
    keras.utils.set_random_seed(0)
    with execution.dtype_policy(policy):
        gan = build_gan(config, jit, run_eagerly=eager, fast_layers=fast_layers)
    gan.set_adversarial(True)
    gan.fit(_SameBatch(hr, 1), epochs=1, verbose=0)
    return gan


def train_img_s(gans: dict[str, tuple[SRGAN, int]], hr: np.ndarray, rounds: int) -> dict:
    """Images/s of each variant's train step: epochs of its step count timed in turn
    (A B C A B C ...), so that a slow spell of a shared machine hits every variant; the
    median round counts."""
    seconds = {name: [] for name in gans}
    timer = _EpochTimes()
    for _ in range(rounds):
        for name, (gan, steps) in gans.items():
            gan.fit(_SameBatch(hr, steps), epochs=1, verbose=0, callbacks=[timer])
            seconds[name].append(timer.last / steps)
    return {name: len(hr) / float(np.median(s)) for name, s in seconds.items()}


def pipeline_img_s(jpeg_dir: Path, images: int, batch: int) -> dict:
    files = data.find_images(jpeg_dir)
    files = (files * (images // len(files) + 1))[:images]
    result = {}
    start = time.perf_counter()
    decoding.load_hr(files)  # Pillow in threads: read, decode, crop, resize every image
    result["jpeg"] = images / (time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "all"
        folder.mkdir()
        for i, f in enumerate(files[:batch * 4]):  # a prepared array with batch*4 crops
            os.symlink(f.resolve(), folder / f"{i + 1:06d}.jpg")
        shards = 4 if has_tensorflow() else 0
        prepare.prepare(folder, Path(tmp) / "prepared", tfrecord_shards=shards)
        hr = prepare.load_prepared(Path(tmp) / "prepared", "train")
        batches = HRBatches(hr, batch, steps=images // batch)
        start = time.perf_counter()
        for i in range(len(batches)):
            batches[i]
        result["prepared"] = images // batch * batch / (time.perf_counter() - start)
        result["tfrecord"] = None
        if shards:  # the same crops from TFRecords, as `train` reads them under TensorFlow
            from dcgan_sr import records
            dataset = records.training_batches(
                records.read_shards(Path(tmp) / "prepared", "train", shards),
                batch, seed=0).take(images // batch)
            start = time.perf_counter()
            for _ in dataset:
                pass
            result["tfrecord"] = images // batch * batch / (time.perf_counter() - start)
    result["realistic"] = realistic_img_s(files[:64], images, batch)
    return result


def realistic_img_s(files: list[Path], images: int, batch: int) -> float:
    """(LR, HR) pairs/s made by the realistic mix on the CPU (one thread; training
    runs two), from the photos' windows, as `train --degradation realistic` feeds them."""
    windows = decoding.load_windows(files)
    batches = DegradedBatches(windows, degrade.RealisticMix(), batch, images // batch)
    start = time.perf_counter()
    for i in range(len(batches)):
        batches[i]
    return len(batches) * batch / (time.perf_counter() - start)


def upscale_img_s(generator: keras.Model, batch: int, seconds: float) -> float:
    lr = np.random.default_rng(0).random((batch, 32, 32, 3), np.float32) * 2 - 1
    generator.predict(lr, batch_size=batch, verbose=0)
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        generator.predict(lr, batch_size=batch, verbose=0)
        runs += 1
    return batch * runs / (time.perf_counter() - start)


def onnx_upscale_img_s(generator: keras.Model, batch: int, seconds: float) -> float | None:
    """The same upscaling through ONNX Runtime (`dcgan_sr.upscaler.onnx_route`, what
    `Upscaler` runs on a CPU: uint8 pixels in and out), or None when it is not installed."""
    if not upscaler.onnx_available():
        return None
    upscale = upscaler.onnx_route(generator)
    lr = np.random.default_rng(0).integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8)
    upscale(lr)
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        upscale(lr)
        runs += 1
    return batch * runs / (time.perf_counter() - start)


def jax_upscale_img_s(config: str | None, seconds: float) -> float | None:
    """`upscale_img_s` under the Keras JAX backend, in a child process (a process has one
    Keras backend), or None when JAX is not installed."""
    if not installed("jax"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "jax.json"
        subprocess.run([sys.executable, __file__, "--upscale-only", "--json", str(out),
                        "--seconds", str(seconds), *(["--config", config] if config else [])],
                       env=dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu"), check=True)
        return json.loads(out.read_text())["upscale_img_s"]


def jax_train_img_s(args) -> dict | None:
    """The train step's images/s under the Keras JAX backend (jit: XLA, float32 and mixed
    bfloat16), in a child process, or None when JAX is not installed."""
    if not installed("jax"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "jax.json"
        subprocess.run([sys.executable, __file__, "--train-only", "--json", str(out),
                        "--rounds", str(args.rounds), *(["--steps", str(args.steps)] if args.steps else []),
                        *(["--batch", str(args.batch)] if args.batch else []),
                        *(["--config", args.config] if args.config else [])],
                       env=dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu"), check=True)
        return json.loads(out.read_text())["train_img_s"]


def train_variants(config: Config, backend: str, gpu: bool, capability, batch: int, steps: int,
                   rounds: int, note) -> tuple[dict, str]:
    """Images/s of the GAN step in each variant this backend has, and the mixed policy."""
    mixed = "mixed_bfloat16" if not gpu or capability >= 8 else "mixed_float16"
    # name: (policy, jit, eager, the speed layers swapped in)
    variants = {"eager": ("float32", False, True, True),
                "function": ("float32", False, False, True),
                "function_mixed": (mixed, False, False, True),
                "xla": ("float32", True, False, True),
                "xla_mixed": (mixed, True, False, True),
                "function_keras_layers": ("float32", False, False, False)}
    hr = np.random.default_rng(0).integers(0, 256, (batch, 128, 128, 3), dtype=np.uint8)
    gans = {}
    for name, (policy, jit, eager, fast_layers) in variants.items():
        if backend == "jax" and name.startswith("function"):
            note(f"train {name}", "JAX has no graph mode without XLA: every jit is XLA")
            continue
        gans[name] = (compiled_gan(config, policy, jit, eager, hr, fast_layers),
                      max(1, steps // 10) if eager else steps)
        print(f"compiled {name} ({backend})", flush=True)
    speeds = {name: None for name in variants} | train_img_s(gans, hr, rounds)
    for name, speed in speeds.items():
        if speed is not None:
            print(f"train {backend} {name:9s} {speed:10.1f} img/s", flush=True)
    return speeds, mixed


def bicubic_img_s(images: int = 2000) -> float:
    lr = [Image.fromarray(a) for a in np.random.default_rng(0).integers(
        0, 256, (64, 32, 32, 3), dtype=np.uint8)]
    start = time.perf_counter()
    for i in range(images):
        lr[i % 64].resize((128, 128), Image.BICUBIC)
    return images / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench.json", help="where to write the table as JSON")
    parser.add_argument("--config", help="model config JSON (default: the seed's)")
    parser.add_argument("--batch", type=int, help="training batch (default 128 on GPU, 16 on CPU)")
    parser.add_argument("--steps", type=int, help="timed training steps per variant and round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="timing rounds over the training variants (median counts; default 3)")
    parser.add_argument("--data", default=str(data.SAMPLE_DIR), help="JPEG folder for the pipeline")
    parser.add_argument("--images", type=int,
                        help="images through the input pipeline (default 20 batches on GPU, 2048 on CPU)")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing of each upscale row (default 3)")
    parser.add_argument("--upscale-only", action="store_true",
                        help="only the generator's upscale images/s (the JAX row's child process)")
    parser.add_argument("--train-only", action="store_true",
                        help="only the train step's images/s (the JAX rows' child process)")
    args = parser.parse_args(argv)
    start_tensorflow()
    config = Config.load(args.config) if args.config else Config()
    if args.upscale_only:
        speed = upscale_img_s(build_generator(config), 16, args.seconds)
        Path(args.json).write_text(json.dumps({"backend": keras.backend.backend(),
                                               "upscale_img_s": speed}) + "\n")
        return 0
    capability = execution.gpu_compute_capability()
    gpu = capability is not None
    batch = args.batch or (128 if gpu else 16)
    steps = args.steps or (50 if gpu else 4)
    backend = keras.backend.backend()
    notes = []

    def note(what, why):
        notes.append(f"{what}: null ({why})")

    if args.train_only:
        speeds, _ = train_variants(config, backend, gpu, capability, batch, steps, args.rounds, note)
        Path(args.json).write_text(json.dumps({"backend": backend, "train_img_s": speeds}) + "\n")
        return 0
    row = {"device": device_name(), "cpu": cpu_features(), "backend": backend, "batch": batch}
    row["train_img_s"], row["train_mixed_policy"] = train_variants(
        config, backend, gpu, capability, batch, steps, args.rounds, note)
    if backend == "tensorflow" and not gpu:
        jax_speeds = jax_train_img_s(args)
        if jax_speeds is None:
            note("train jax", "the Keras JAX backend on the CPU: JAX is not installed")
        for name in ("xla", "xla_mixed"):
            row["train_img_s"][f"jax_{name}"] = None if jax_speeds is None else jax_speeds[name]
    eager_speed = row["train_img_s"]["eager"]
    row["train_ratio_to_eager"] = {k: None if v is None else v / eager_speed
                                   for k, v in row["train_img_s"].items()}
    images = args.images or (20 * batch if gpu else 2048)
    row["pipeline_img_s"] = pipeline_img_s(Path(args.data), images, batch)
    print(f"pipeline {row['pipeline_img_s']}", flush=True)
    if row["pipeline_img_s"]["tfrecord"] is None:
        note("pipeline tfrecord", "TFRecords are read by tf.data: TensorFlow is not installed")

    generator = build_generator(config)
    flops = {"generator": layer_flops(generator, (32, 32, 3)),
             "discriminator": layer_flops(build_discriminator(config), (128, 128, 3))}
    row["gflop_per_image"] = {k: v / 1e9 for k, v in flops.items()}
    row["gflop_per_image"]["train_step"] = step_gflop(flops["generator"] / 1e9,
                                                      flops["discriminator"] / 1e9, config)
    row["peak_gflops"] = peak_gflops(gpu)
    row["peak_mixed_gflops"] = peak_gflops(gpu, row["train_mixed_policy"].removeprefix("mixed_"))
    # Each variant against the peak of the precision its matmuls run in.
    row["train_peak_fraction"] = {
        k: None if v is None else v * row["gflop_per_image"]["train_step"]
        / row["peak_mixed_gflops" if k.endswith("mixed") else "peak_gflops"]
        for k, v in row["train_img_s"].items()}
    row["upscale_img_s"] = upscale_img_s(generator, 64 if gpu else 16, args.seconds)
    row["bicubic_img_s"] = bicubic_img_s()
    cpu_routes = backend == "tensorflow" and not gpu
    row["upscale_jax_img_s"] = jax_upscale_img_s(args.config, args.seconds) if cpu_routes else None
    if row["upscale_jax_img_s"] is None:
        note("upscale jax", "the Keras JAX backend on the CPU, beside a TensorFlow run: JAX installed, "
                            "TensorFlow backend, no GPU")
    row["upscale_onnx_img_s"] = onnx_upscale_img_s(generator, 16, args.seconds) if cpu_routes else None
    if row["upscale_onnx_img_s"] is None:
        note("upscale onnx", "ONNX Runtime on the CPU, from a TensorFlow export: tf2onnx and "
                             "onnxruntime installed, TensorFlow backend, no GPU")
    for route in ("", "_jax", "_onnx"):
        speed = row[f"upscale{route}_img_s"]
        row[f"upscale{route}_peak_fraction"] = (None if speed is None else
                                                speed * flops["generator"] / 1e9 / row["peak_gflops"])
    row["notes"] = notes
    Path(args.json).write_text(json.dumps(row, indent=2) + "\n")
    print(json.dumps(row, indent=2))
    for line in notes:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
