"""config -> data -> GAN -> fit (MSE warm-up, then adversarial) -> exported generator.

A run folder holds everything of one run:

    config.json            every hyperparameter, the data counts, versions, how it executed
    checkpoints/           G, D, both optimisers and the step (ckpt-<step>.weights.h5)
    history.csv            one row per epoch (= checkpoint interval): losses, val PSNR, step
    logs/                  TensorBoard scalars and sample grids (when TensorFlow is installed)
    samples/               the same sample grids as PNG
    generator_mse.weights.h5   G at the end of the warm-up (when there is one)
    generator.keras, generator.weights.h5   G at the end (its moving average with EMA)
    summary.json           steps_completed, wall time, final validation metrics

Running the same command again resumes from the last checkpoint. `--data` is a folder
of images (decoded once into memory by Pillow) or a folder written by `dcgan-sr prepare`
(memory-mapped, nothing decoded; under TensorFlow its TFRecord shards through tf.data when
it has them). LR inputs: by the protocol, made on the device by the train step; by the
realistic mix (`degradation="realistic"`), made on the CPU by `dcgan_sr.degrade`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None

import keras
import numpy as np

from dcgan_sr import arrays, autotune, data, degrade, execution
from dcgan_sr.callbacks import (Checkpoints, CheckpointEvery, HistoryCSV, SampleGrid, TrainingLog,
                                StopRequest)
from dcgan_sr.config import RESUMABLE_KEYS, Config
from dcgan_sr.errors import TrainingInterrupted, UserError, WorkerLost, first_line
from dcgan_sr.gan import SRGAN, pairs_from_hr
from dcgan_sr.io import write_atomic
from dcgan_sr.models import build_discriminator, build_generator
from dcgan_sr import presets
from dcgan_sr.presets import stamp_architecture
from dcgan_sr.runtime import device_name, has_tensorflow

log = logging.getLogger(__name__)

SAMPLE_IMAGES = 8


def build_gan(config: Config, jit_compile: bool = False, run_eagerly: bool = False) -> SRGAN:
    """G, D and their optimisers, under the current dtype policy and distribution scope."""
    gan = SRGAN(build_generator(config), build_discriminator(config), config)
    gan.compile(jit_compile=jit_compile, run_eagerly=run_eagerly)
    return gan


RUN_FILES = ("history.csv", "summary.json", "generator_mse.weights.h5", "generator.weights.h5",
             "generator.keras", "config.json")
# What a run writes in its subfolders: all that --overwrite deletes there.
RUN_FOLDERS = {"checkpoints": ("ckpt-*", "latest.json", ".tmp-*"),
               "samples": ("step_*.png", ".tmp-*"),
               "generators": ("step_*.weights.h5", ".tmp-*"),
               "logs": ("events.out.tfevents.*",)}
# A run's JSON files, and how to tell them from a user's file of the same name.
RUN_JSON = {"config.json": lambda d: "versions" in d and "execution" in d,
            "summary.json": lambda d: "steps_completed" in d}


@contextlib.contextmanager
def _run_lock(out: Path):
    """An exclusive OS lock on the run folder for as long as training runs: a second
    `train` on the same --out is refused, naming the holder. The lock dies with its
    process, so a killed run leaves none behind."""
    out.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # not POSIX: no lock
        yield
        return
    with open(out / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise UserError(f"{out} is being trained by another process (PID {holder}); wait "
                            "for it to finish, or choose another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


def _check_out_dir(out: Path, config: Config, overwrite: bool) -> None:
    """Refuse a folder holding another config's run; with `overwrite`, discard any run."""
    saved = out / "config.json"
    holds_run = saved.exists() or (out / "checkpoints").exists() or (out / "history.csv").exists()
    if not holds_run:
        return
    if not overwrite:
        if not saved.exists():
            raise UserError(f"{out} holds a run without its config.json; pass --overwrite to "
                            "discard it and start afresh, or choose another --out")
        previous = Config.load(saved)
        differing = [key for key in config.differences(previous) if key not in RESUMABLE_KEYS]
        if differing:
            raise UserError(f"{out} holds a run with a different config ({', '.join(differing)} "
                            "differ); choose another --out, or pass --overwrite to start afresh")
        return
    strangers = [name for name, is_ours in RUN_JSON.items()
                 if (out / name).exists() and not _written_by_a_run(out / name, is_ours)]
    if strangers:
        raise UserError(f"{out / strangers[0]} was not written by dcgan-sr train; --overwrite "
                        "discards only a run's own files: move it, or choose another --out")
    log.warning("--overwrite: discarding the run in %s (only the files a run writes)", out)
    for folder, patterns in RUN_FOLDERS.items():
        found = [p for pattern in patterns for p in (out / folder).rglob(pattern) if p.is_file()]
        for path in found:
            path.unlink()
        for sub in sorted((out / folder).rglob("*"), reverse=True) + [out / folder]:
            if sub.is_dir() and not any(sub.iterdir()):  # emptied by this: the user's stay
                sub.rmdir()
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)


def _written_by_a_run(path: Path, is_ours) -> bool:
    try:
        values = json.loads(path.read_text())
        return isinstance(values, dict) and is_ours(values)
    except (OSError, ValueError, UnicodeDecodeError):
        return False


def _split_files(config: Config, data_dir: Path, train_split: str, val_split: str):
    files = data.find_images(data_dir)
    train_files = data.split_files(files, train_split, data_dir)
    val_files = data.split_files(files, val_split, data_dir)[: config.val_images]
    if not train_files:
        raise UserError(f"{data_dir}: no images of the {train_split!r} split (names outside "
                        "CelebA's numbering count as 'test'); pass --train-split all to train "
                        "on every image")
    if set(val_files) & set(train_files):
        log.warning("validation images are also training images: validation PSNR will be optimistic")
    if not val_files and len(train_files) > 2 * SAMPLE_IMAGES:
        log.warning("%s: no validation-partition images; validating on the last %d train "
                    "images (held out)", data_dir, SAMPLE_IMAGES)
        train_files, val_files = train_files[:-SAMPLE_IMAGES], train_files[-SAMPLE_IMAGES:]
    elif not val_files:
        log.warning("%s: no validation-partition images and too few to hold some out; "
                    "validating on training images: validation PSNR will be optimistic", data_dir)
        val_files = train_files[:SAMPLE_IMAGES]
    return train_files, val_files


def _realistic_datasets(config: Config, data_dir: Path, train_split: str, val_split: str,
                        workers: int = 1):
    """The realistic mix, made on the CPU from each photo's window (dcgan_sr.degrade);
    validation on a fixed draw of the same mix (seeded), so val PSNR measures the task."""
    if arrays.is_prepared(data_dir):
        log.info("realistic degradations from the prepared 128x128 crops; a folder of photos "
                 "lets them start from the photos' own resolution")
        train_windows = arrays.load_prepared(data_dir, train_split)
        val_windows = arrays.load_prepared(data_dir, val_split)[: config.val_images]
    else:
        train_files, val_files = _split_files(config, data_dir, train_split, val_split)
        train_windows = arrays.load_windows(train_files)
        val_windows = arrays.load_windows(val_files)
    val_windows = val_windows[: len(val_windows) // workers * workers]
    mix = degrade.RealisticMix.from_config(config)
    train_batches = arrays.DegradedBatches(train_windows, mix, config.batch_size,
                                           steps=config.checkpoint_every, seed=config.seed,
                                           workers=2)
    val_lr, val_hr = degrade.pairs(val_windows, mix, seed=config.seed + 1)
    samples = (data.to_model(val_lr[:SAMPLE_IMAGES]),
               data.to_model(val_hr[:SAMPLE_IMAGES]))
    return (train_batches, arrays.PairBatches(val_lr, val_hr, _val_batch_size(workers)), samples,
            len(train_windows), len(val_windows))


def _val_batch_size(workers: int) -> int:
    """32, or the nearest multiple of the worker count below it (each worker takes a share)."""
    return max(workers, 32 // workers * workers)


def _datasets(config: Config, data_dir: Path, train_split: str, val_split: str,
              workers: int = 1):
    """(training batches, validation batches, sample (lr, hr) in [-1, 1], train count, val count).

    With several `workers`, the validation images are cut to a multiple of their number."""
    if config.degradation == "realistic":
        return _realistic_datasets(config, data_dir, train_split, val_split, workers)
    # uint8 HR crops (prepared and memory-mapped, or decoded once by Pillow), batched with
    # flips; the protocol's LR is made from them on the device by the train step.
    shards = 0
    if arrays.is_prepared(data_dir):
        if has_tensorflow() and workers == 1:
            shards = arrays.tfrecord_shards(data_dir, train_split)
        hr_train = arrays.load_prepared(data_dir, train_split)
        hr_val = arrays.load_prepared(data_dir, val_split)[: config.val_images]
    else:
        train_files, val_files = _split_files(config, data_dir, train_split, val_split)
        hr_train, _ = arrays.load_hr(train_files)
        hr_val, _ = arrays.load_hr(val_files)
    hr_val = hr_val[: len(hr_val) // workers * workers]
    if shards:  # tf.data over TFRecord shards
        from dcgan_sr import records
        log.info("training images from %d TFRecord files of %s", shards, data_dir)
        train_batches = data.training_batches(records.read_shards(data_dir, train_split, shards),
                                              config.batch_size, config.seed)
    else:
        train_batches = arrays.HRBatches(hr_train, config.batch_size,
                                         steps=config.checkpoint_every, seed=config.seed,
                                         workers=4)
    val_batches = arrays.HRBatches(hr_val, _val_batch_size(workers), shuffle=False)
    return (train_batches, val_batches, _protocol_samples(np.asarray(hr_val[:SAMPLE_IMAGES])),
            len(hr_train), len(hr_val))


def _protocol_samples(hr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return tuple(keras.ops.convert_to_numpy(x) for x in pairs_from_hr(hr))


def _save_generator(generator: keras.Model, path: Path, config: Config) -> None:
    def write(tmp):
        if path.name.endswith(".weights.h5"):
            generator.save_weights(tmp)
            stamp_architecture(tmp, config)
        else:
            generator.save(tmp)
    write_atomic(path, write)


def _start_from(generator: keras.Model, config: Config) -> None:
    """Fine-tuning: G's weights from config.init_generator, refused unless its
    architecture is this config's."""
    source = config.init_generator
    if source.endswith(".keras"):
        raise UserError(f"--init-generator {source}: pass a preset name or the .weights.h5 of "
                        "a run folder (a .keras file does not say the config it was trained with)")
    path, source_config = presets.weights_and_config(source)
    differing = sorted(k for k, v in source_config.generator_architecture().items()
                       if config.generator_architecture()[k] != v)
    if differing:
        raise UserError(f"--init-generator {source}: its generator differs from this config's ("
                        + ", ".join(differing) + "); use the same generator settings as "
                        f"{path.name}'s config.json")
    generator.set_weights(presets.load_generator(source).get_weights())
    log.info("generator initialised from %s", source)


def _has_nonfinite_weights(model: keras.Model) -> bool:
    return any(not np.all(np.isfinite(w)) for w in model.get_weights())


def _versions() -> dict:
    versions = {"keras": keras.__version__, "backend": keras.backend.backend()}
    if has_tensorflow():
        import tensorflow as tf
        versions["tensorflow"] = tf.__version__
    if keras.backend.backend() == "jax":
        import jax
        versions["jax"] = jax.__version__
    return versions


def train(config: Config, data_dir: str | Path, out_dir: str | Path, overwrite: bool = False,
          train_split: str = "train", val_split: str = "val", verbose: bool = True,
          callbacks: Sequence[keras.callbacks.Callback] = (), keep_generators: bool = False) -> dict:
    """Train (or resume) the run in `out_dir`; returns the summary written to summary.json.

    Trains on the `train_split` images of `data_dir` and validates on the first
    `config.val_images` of `val_split` (CelebA's official partition by default). With
    `verbose`, prints a line per epoch (`callbacks.TrainingLog`). `callbacks` are more
    Keras callbacks, called after the run's own (each epoch ends at a checkpoint). With
    `keep_generators`, G as exported is also kept at every checkpoint, as
    `generators/step_<step>.weights.h5`, to choose from afterwards.
    """
    out, data_dir = Path(out_dir), Path(data_dir)
    with _run_lock(out):
        extra = [*callbacks, *([_KeepGenerators(out / "generators")] if keep_generators else [])]
        return _train_locked(config, data_dir, out, overwrite, train_split, val_split, verbose, extra)


class _KeepGenerators(keras.callbacks.Callback):
    """G as exported (its EMA, if any) at the end of every epoch, i.e. at every checkpoint."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch, logs=None):
        gan = self.model
        with gan.averaged_generator() as generator:
            _save_generator(generator, self.folder / f"step_{int(gan.step):07d}.weights.h5", gan.config)


def _finished_summary(out: Path, config: Config) -> dict | None:
    """The summary of a run that is already at or past `config.steps`, else None."""
    try:
        summary = json.loads((out / "summary.json").read_text())
        done = int(summary["steps_completed"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("%s is unreadable; it will be written again", out / "summary.json")
        return None
    if done > config.steps:
        raise UserError(f"{out} is already past that: it finished {done} steps, more than "
                        f"--steps {config.steps}; nothing was changed. Raise --steps to continue it")
    return summary if done == config.steps else None


def _keep_history_until(path: Path, step: int) -> None:
    """Drop history rows after `step` (steps that a resumed run will do again)."""
    if not path.is_file():
        return
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return
    column = rows[0].index("step") if "step" in rows[0] else None
    kept = [rows[0]] + [r for r in rows[1:] if column is None or
                        (len(r) > column and r[column] and float(r[column]) <= step)]
    if len(kept) < len(rows):
        log.info("history.csv: dropped %d row(s) after step %d", len(rows) - len(kept), step)

        def write(tmp):
            with open(tmp, "w", newline="") as handle:
                csv.writer(handle).writerows(kept)
        write_atomic(path, write)


def _train_locked(config: Config, data_dir: Path, out: Path, overwrite: bool, train_split: str,
                  val_split: str, verbose, extra_callbacks: list) -> dict:
    _check_out_dir(out, config, overwrite)
    finished = _finished_summary(out, config)
    if finished:
        log.info("%s: run already finished (%d steps); nothing to do", out, config.steps)
        return finished

    plan = execution.resolve(config)
    cluster = plan.cluster
    train_batches, val_batches, samples, n_train, n_val = _datasets(
        config, data_dir, train_split, val_split, cluster.size if cluster else 1)
    if config.batch_size > n_train:
        raise UserError(f"--batch-size {config.batch_size} is larger than the {n_train} training "
                        f"images of {data_dir}; use at most {n_train}")
    if cluster:  # each worker trains and validates on its share of every batch
        train_batches, val_batches = (arrays.WorkerShare(batches, cluster.index, cluster.size)
                                      for batches in (train_batches, val_batches))
    if config.xla == "auto" and plan.strategy == "default" and execution.xla_is_a_choice():
        def build(jit: bool) -> SRGAN:
            with execution.dtype_policy(plan.dtype_policy):
                return build_gan(config, jit)
        plan = dataclasses.replace(plan, jit_compile=autotune.choose_xla(
            config, Checkpoints(out / "checkpoints").newest_step(), build))
    keras.utils.set_random_seed(config.seed)
    with execution.dtype_policy(plan.dtype_policy), execution.distribution_scope(plan):
        gan = build_gan(config, plan.jit_compile)
    checkpoints = Checkpoints(out / "checkpoints")
    # Workers may have been stopped one checkpoint apart: all resume from the newest they share.
    common = min(execution.all_workers(checkpoints.newest_step())) if cluster else None
    wall_seconds = checkpoints.restore(gan, at_most=common)
    if wall_seconds is not None:
        step = int(gan.step)
        if step > config.steps:
            raise UserError(f"{out} is already at step {step}, past --steps {config.steps}; "
                            "nothing was changed. Raise --steps to continue it")
        log.info("resuming %s from step %d", out, step)
    elif (out / "history.csv").is_file() or (out / "checkpoints" / "latest.json").exists():
        raise UserError(f"{out} holds a run's history but no checkpoint to resume from; pass "
                        "--overwrite to discard it and start afresh, or choose another --out")
    elif config.init_generator:
        _start_from(gan.generator, config)
    if cluster:
        steps = execution.all_workers(int(gan.step))
        if len(set(steps)) > 1:
            raise UserError(f"the workers resumed from different steps ({steps}, in worker order): "
                            "copy the run folder (--out) of the worker at the lowest step to the "
                            "others, or pass --overwrite to all of them")
    wall_seconds = wall_seconds or 0.0
    _keep_history_until(out / "history.csv", int(gan.step))

    run_info = {"data": {"dir": str(data_dir), "train_split": train_split, "val_split": val_split,
                         "train_images": n_train, "val_images": n_val},
                "versions": _versions(), "device": device_name(), "execution": plan.describe()}
    write_atomic(out / "config.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(config.to_dict() | run_info,
                                                              indent=2) + "\n"))
    log.info("training on %s: %s", run_info["device"], plan.describe())

    sample_lr, sample_hr = samples
    tensorboard = has_tensorflow()
    shared_callbacks = [
        HistoryCSV(out / "history.csv"),
        *([TrainingLog(config.steps)] if verbose else []),
        SampleGrid(sample_lr, sample_hr, out / "samples",
                   out / "logs" / "samples" if tensorboard else None),
        *([keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False)] if tensorboard
          else []),
        *extra_callbacks,
    ]
    if config.ema_decay:  # validate G's moving average, the G that is exported
        shared_callbacks.insert(0, keras.callbacks.SwapEMAWeights())
    if not tensorboard:
        log.info("TensorFlow is not installed: no TensorBoard logs (history.csv and samples/ "
                 "are written)")

    def fit_until(stop_at: int, stop_request: StopRequest) -> None:
        nonlocal wall_seconds
        step = int(gan.step)
        if step >= stop_at:
            return
        saver = CheckpointEvery(checkpoints, step, config.checkpoint_every, stop_at,
                                wall_seconds, stop_request)
        try:
            gan.fit(train_batches, validation_data=val_batches,
                    steps_per_epoch=config.checkpoint_every,
                    initial_epoch=step // config.checkpoint_every,
                    epochs=math.ceil(stop_at / config.checkpoint_every),
                    callbacks=[saver, *shared_callbacks], shuffle=False, verbose=0)
        except KeyboardInterrupt:  # a second Ctrl-C: nothing more is asked of TensorFlow
            kept = checkpoints.latest()
            raise TrainingInterrupted(
                f"stopped at once; the last checkpoint in {out / 'checkpoints'} (step "
                f"{kept['step'] if kept else 0}) is kept. Run the same command again to resume"
            ) from None
        except Exception as error:
            if not (cluster and execution.is_peer_lost(error)):
                raise
            kept = checkpoints.latest()
            raise WorkerLost(
                f"worker {cluster.index}: another worker stopped ({first_line(error)}); the last "
                f"checkpoint in {out / 'checkpoints'} (step {kept['step'] if kept else 0}) is "
                "kept. Start every worker again with the same command to resume") from None
        finally:
            wall_seconds = saver.wall_seconds
        if saver.nonfinite_step is not None:
            raise UserError(
                f"loss became NaN/Inf by step {saver.nonfinite_step}; training stopped and the "
                f"last good checkpoint in {out / 'checkpoints'} was kept. Lower the learning "
                "rates or the adversarial weight and run again")

    # One request for both phases: a Ctrl-C after the warm-up's last step is answered
    # at the adversarial phase's first.
    with StopRequest() as stop_request:
        if config.pretrain_steps:
            gan.set_adversarial(False)
            fit_until(config.pretrain_steps, stop_request)
            if int(gan.step) == config.pretrain_steps:  # only G as it was at the warm-up's end
                with gan.averaged_generator() as generator:
                    _save_generator(generator, out / "generator_mse.weights.h5", config)
        gan.set_adversarial(True)
        fit_until(config.steps, stop_request)

    with gan.averaged_generator() as generator:
        if _has_nonfinite_weights(generator):
            raise UserError(f"the generator has NaN/Inf weights; nothing exported from {out}")
        _save_generator(generator, out / "generator.weights.h5", config)
        _save_generator(generator, out / "generator.keras", config)
        final = gan.evaluate(val_batches, verbose=0, return_dict=True)
    summary = {"steps_completed": int(gan.step), "steps": config.steps,
               "wall_seconds": round(wall_seconds, 1),
               "device": run_info["device"], "execution": plan.describe(),
               "train_images": n_train,
               "val": {"images": n_val, "psnr_rgb": round(float(final["psnr"]), 3)}}
    write_atomic(out / "summary.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2) + "\n"))
    return summary
