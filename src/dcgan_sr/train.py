"""config -> data -> GAN -> fit (MSE warm-up, then adversarial) -> exported generator.

`train` is the orchestration: the run folder (dcgan_sr.run_folder: lock, checks, what a run
writes) and the data (dcgan_sr.datasets) have rooms of their own, and so do the checkpoint
store (dcgan_sr.checkpoints) and the callbacks. Running the same command again resumes from
the last checkpoint. `--data` is a folder of images (decoded once into memory by Pillow) or
a folder written by `dcgan-sr prepare` (memory-mapped, nothing decoded; under TensorFlow its
TFRecord shards through tf.data when it has them). LR inputs: by the protocol, made on the
device by the train step; by the realistic mix (`degradation="realistic"`), made on the CPU
by `dcgan_sr.degrade`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from dcgan_sr import autotune, batches, datasets, execution, presets, run_folder, speed_layers
from dcgan_sr.callbacks import CheckpointEvery, HistoryCSV, SampleGrid, StopRequest, TrainingLog
from dcgan_sr.checkpoints import Checkpoints
from dcgan_sr.config import Config
from dcgan_sr.errors import TrainingInterrupted, UserError, WorkerLost, first_line
from dcgan_sr.gan import SRGAN
from dcgan_sr.io import write_json_atomic
from dcgan_sr.losses import ADVERSARIAL
from dcgan_sr.models import build_discriminator, build_generator
from dcgan_sr.run_folder import save_generator
from dcgan_sr.runtime import device_name, has_tensorflow

log = logging.getLogger(__name__)


def build_gan(config: Config, jit_compile: bool = False, run_eagerly: bool = False,
              fast_layers: bool = True) -> SRGAN:
    """G, D and their optimisers, under the current dtype policy and distribution scope;
    with `fast_layers`, G and D train with the speed layers (`speed_layers.for_training`:
    the same weights, faster on TensorFlow)."""
    generator = build_generator(config)  # first: the random initial weights come in this order
    discriminator = build_discriminator(config, logits=ADVERSARIAL[config.gan_loss].logits)
    if fast_layers:
        generator, discriminator = map(speed_layers.for_training, (generator, discriminator))
    gan = SRGAN(generator, discriminator, config)
    gan.compile(jit_compile=jit_compile, run_eagerly=run_eagerly)
    return gan


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
    with run_folder.lock(out):
        run_folder.check_out_dir(out, config, overwrite)
        run_folder.remove_killed_writes(out)
        finished = run_folder.finished_summary(out, config)
        if finished:
            log.info("%s: run already finished (%d steps); nothing to do", out, config.steps)
            return finished
        plan = execution.resolve(config)
        data = _training_data(config, data_dir, train_split, val_split, plan.cluster)
        plan = _choose_xla(config, plan, out)
        gan, wall_seconds = _restore_or_start(config, plan, out)
        run_folder.keep_history_until(out / "history.csv", int(gan.step))
        run_info = {"data": {"dir": str(data_dir), "train_split": train_split,
                             "val_split": val_split, "train_images": data.n_train,
                             "val_images": data.n_val},
                    "versions": _versions(), "device": device_name(), "execution": plan.describe()}
        write_json_atomic(out / "config.json", config.to_dict() | run_info)
        log.info("training on %s: %s", run_info["device"], plan.describe())
        extra = [*callbacks, *([_KeepGenerators(out / "generators")] if keep_generators else [])]
        run = _Run(gan, config, out, data, plan.cluster, _callbacks(config, out, data, verbose, extra),
                   wall_seconds)
        run.fit_both_phases()
        return run.export(run_info)


def _training_data(config: Config, data_dir: Path, train_split: str, val_split: str,
                   cluster) -> datasets.TrainingData:
    data = datasets.load(config, data_dir, train_split, val_split, cluster.size if cluster else 1)
    datasets.check_batch_size(config, data.n_train, data_dir)  # unreadable files left out
    if cluster:  # each worker trains and validates on its share of every batch
        data = dataclasses.replace(data, **{
            name: batches.WorkerShare(getattr(data, name), cluster.index, cluster.size)
            for name in ("train", "val")})
    return data


def _choose_xla(config: Config, plan, out: Path):
    """The plan with XLA on or off as measured (dcgan_sr.autotune) under --xla auto."""
    if not (config.xla == "auto" and plan.strategy == "default" and execution.xla_is_a_choice()):
        return plan

    def build(jit: bool) -> SRGAN:
        with execution.dtype_policy(plan.dtype_policy):
            return build_gan(config, jit)
    return dataclasses.replace(plan, jit_compile=autotune.choose_xla(
        config, Checkpoints(out / "checkpoints").newest_step(), build))


def _restore_or_start(config: Config, plan, out: Path) -> tuple[SRGAN, float]:
    """The GAN at its newest checkpoint (and the wall time run so far), or new: from
    random weights, or G from config.init_generator."""
    keras.utils.set_random_seed(config.seed)
    with execution.dtype_policy(plan.dtype_policy), execution.distribution_scope(plan):
        gan = build_gan(config, plan.jit_compile)
    cluster = plan.cluster
    # Workers may have been stopped one checkpoint apart: all resume from the newest they share.
    checkpoints = Checkpoints(out / "checkpoints")
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
    return gan, wall_seconds or 0.0


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


def _callbacks(config: Config, out: Path, data: datasets.TrainingData, verbose: bool,
               extra: list) -> list[keras.callbacks.Callback]:
    """The run's own callbacks (history, progress, sample grids, TensorBoard), then `extra`."""
    tensorboard = has_tensorflow()
    if not tensorboard:
        log.info("TensorFlow is not installed: no TensorBoard logs (history.csv and samples/ "
                 "are written)")
    sample_lr, sample_hr = data.samples
    return [
        # validate G's moving average, the G that is exported
        *([keras.callbacks.SwapEMAWeights()] if config.ema_decay else []),
        HistoryCSV(out / "history.csv"),
        *([TrainingLog(config.steps)] if verbose else []),
        SampleGrid(sample_lr, sample_hr, out / "samples",
                   out / "logs" / "samples" if tensorboard else None),
        *([keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False)] if tensorboard
          else []),
        *extra,
    ]


@dataclasses.dataclass
class _Run:
    """The fit of one run folder, in two phases, checkpointed; then its export."""
    gan: SRGAN
    config: Config
    out: Path
    data: datasets.TrainingData
    cluster: object
    callbacks: list
    wall_seconds: float

    def __post_init__(self):
        self.checkpoints = Checkpoints(self.out / "checkpoints")

    def fit_both_phases(self) -> None:
        # One request for both phases: a Ctrl-C after the warm-up's last step is answered
        # at the adversarial phase's first.
        config, gan = self.config, self.gan
        with StopRequest() as stop_request:
            if config.pretrain_steps:
                gan.set_adversarial(False)
                self.fit_until(config.pretrain_steps, stop_request)
                if int(gan.step) == config.pretrain_steps:  # only G as it was at the warm-up's end
                    with gan.averaged_generator() as generator:
                        save_generator(generator, self.out / "generator_mse.weights.h5", config)
            gan.set_adversarial(True)
            self.fit_until(config.steps, stop_request)

    def fit_until(self, stop_at: int, stop_request: StopRequest) -> None:
        step, every = int(self.gan.step), self.config.checkpoint_every
        if step >= stop_at:
            return
        saver = CheckpointEvery(self.checkpoints, step, every, stop_at, self.wall_seconds,
                                stop_request)
        try:
            self.gan.fit(self.data.train, validation_data=self.data.val, steps_per_epoch=every,
                         initial_epoch=step // every, epochs=math.ceil(stop_at / every),
                         callbacks=[saver, *self.callbacks], shuffle=False, verbose=0)
        except KeyboardInterrupt:  # a second Ctrl-C: nothing more is asked of TensorFlow
            raise TrainingInterrupted(f"stopped at once; {self._kept()} is kept. Run the same "
                                      "command again to resume") from None
        except Exception as error:
            if not (self.cluster and execution.is_peer_lost(error)):
                raise
            raise WorkerLost(f"worker {self.cluster.index}: another worker stopped "
                             f"({first_line(error)}); {self._kept()} is kept. Start every "
                             "worker again with the same command to resume") from None
        finally:
            self.wall_seconds = saver.wall_seconds
        if saver.nonfinite_step is not None:
            raise UserError(
                f"loss became NaN/Inf by step {saver.nonfinite_step}; training stopped and the "
                f"last good checkpoint in {self.out / 'checkpoints'} was kept. Lower the "
                "learning rates or the adversarial weight and run again")

    def _kept(self) -> str:
        kept = self.checkpoints.latest()
        return (f"the last checkpoint in {self.out / 'checkpoints'} (step "
                f"{kept['step'] if kept else 0})")

    def export(self, run_info: dict) -> dict:
        """G (its moving average with EMA) as .weights.h5 and .keras; the summary."""
        with self.gan.averaged_generator() as generator:
            if _has_nonfinite_weights(generator):
                raise UserError(f"the generator has NaN/Inf weights; nothing exported from {self.out}")
            save_generator(generator, self.out / "generator.weights.h5", self.config)
            save_generator(generator, self.out / "generator.keras", self.config)
            final = self.gan.evaluate(self.data.val, verbose=0, return_dict=True)
        summary = {"steps_completed": int(self.gan.step), "steps": self.config.steps,
                   "wall_seconds": round(self.wall_seconds, 1),
                   "device": run_info["device"], "execution": run_info["execution"],
                   "train_images": self.data.n_train,
                   "val": {"images": self.data.n_val, "psnr_rgb": round(float(final["psnr"]), 3)}}
        write_json_atomic(self.out / "summary.json", summary)
        return summary


class _KeepGenerators(keras.callbacks.Callback):
    """G as exported (its EMA, if any) at the end of every epoch, i.e. at every checkpoint."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch, logs=None):
        gan = self.model
        with gan.averaged_generator() as generator:
            save_generator(generator, self.folder / f"step_{int(gan.step):07d}.weights.h5", gan.config)


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
