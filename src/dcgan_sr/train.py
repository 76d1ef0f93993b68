"""config -> data -> GAN -> fit (MSE warm-up, then adversarial) -> exported generator.

A run folder holds everything of one run:

    config.json            every hyperparameter, the data counts, the versions
    checkpoints/           G, D, both optimisers and the step (tf.train.CheckpointManager)
    history.csv            one row per epoch (= checkpoint interval): losses, val PSNR, step
    logs/                  TensorBoard scalars and sample grids
    samples/               the same sample grids as PNG
    generator_mse.weights.h5   G at the end of the warm-up (when there is one)
    generator.keras, generator.weights.h5   G at the end
    summary.json           steps_completed, wall time, final validation metrics

Running the same command again resumes from the last checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from dcgan_sr import data
from dcgan_sr.callbacks import CheckpointEvery, SampleGrid, StepColumn
from dcgan_sr.config import Config
from dcgan_sr.errors import TrainingInterrupted, UserError
from dcgan_sr.gan import SRGAN
from dcgan_sr.io import write_atomic
from dcgan_sr.models import build_discriminator, build_generator
from dcgan_sr.runtime import device_name

log = logging.getLogger(__name__)

SAMPLE_IMAGES = 8
# Keys a resumed run may change: more (or fewer) steps extend (or end) the same run.
SCHEDULE_KEYS = ("steps", "checkpoint_every")


def make_checkpoint(gan: SRGAN, wall_seconds: tf.Variable) -> tf.train.Checkpoint:
    """G, D, both optimisers (moments and step counter) and the accumulated wall time."""
    return tf.train.Checkpoint(generator=gan.generator, discriminator=gan.discriminator,
                               g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer,
                               wall_seconds=wall_seconds)


def _check_out_dir(out: Path, config: Config, overwrite: bool) -> None:
    saved = out / "config.json"
    if not saved.exists():
        return
    previous = Config.load(saved)
    differing = [key for key in config.differences(previous) if key not in SCHEDULE_KEYS]
    if differing and not overwrite:
        raise UserError(f"{out} holds a run with a different config ({', '.join(differing)} "
                        "differ); choose another --out, or pass --overwrite to start afresh")
    if differing:
        log.warning("--overwrite: discarding the run in %s", out)
        for name in ("checkpoints", "logs", "samples"):
            for path in sorted((out / name).rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
        for name in ("history.csv", "summary.json", "generator_mse.weights.h5",
                     "generator.weights.h5", "generator.keras"):
            (out / name).unlink(missing_ok=True)


def _datasets(config: Config, data_dir: Path, train_split: str, val_split: str):
    files = data.find_images(data_dir)
    train_files = data.split_files(files, train_split, data_dir)
    val_files = data.split_files(files, val_split, data_dir)[: config.val_images]
    if not train_files:
        raise UserError(f"{data_dir}: no images of the {train_split!r} split (names outside "
                        "CelebA's numbering count as 'test'); pass --train-split all to train "
                        "on every image")
    if set(val_files) & set(train_files):
        log.warning("validation images are also training images: validation PSNR will be optimistic")
    if not val_files:
        log.warning("%s: no validation-partition images; validating on the last train images",
                    data_dir)
        train_files, val_files = train_files[:-SAMPLE_IMAGES], train_files[-SAMPLE_IMAGES:]
    hr_train = data.load_hr_images(train_files)
    hr_val = data.load_hr_images(val_files)
    val_pairs = data.evaluation_pairs(hr_val).map(
        lambda lr, hr: (data.to_model(lr), data.to_model(hr)))
    return hr_train, val_pairs, int(hr_train.cardinality()), int(hr_val.cardinality())


def _save_generator(generator: keras.Model, path: Path) -> None:
    write_atomic(path, lambda tmp: generator.save_weights(tmp) if path.name.endswith(
        ".weights.h5") else generator.save(tmp))


def _has_nonfinite_weights(model: keras.Model) -> bool:
    return any(not np.all(np.isfinite(w)) for w in model.get_weights())


def train(config: Config, data_dir: str | Path, out_dir: str | Path, overwrite: bool = False,
          train_split: str = "train", val_split: str = "val", verbose: int | str = "auto") -> dict:
    """Train (or resume) the run in `out_dir`; returns the summary written to summary.json.

    Trains on the `train_split` images of `data_dir` and validates on the first
    `config.val_images` of `val_split` (CelebA's official partition by default).
    """
    out, data_dir = Path(out_dir), Path(data_dir)
    _check_out_dir(out, config, overwrite)
    summary_path = out / "summary.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        if summary.get("steps_completed") == config.steps:
            log.info("%s: run already finished (%d steps); nothing to do", out, config.steps)
            return summary

    hr_train, val_pairs, n_train, n_val = _datasets(config, data_dir, train_split, val_split)
    keras.utils.set_random_seed(config.seed)
    gan = SRGAN(build_generator(config), build_discriminator(config), config)
    gan.compile()

    wall_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)
    checkpoint = make_checkpoint(gan, wall_seconds)
    manager = tf.train.CheckpointManager(checkpoint, out / "checkpoints", max_to_keep=2)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        log.info("resuming %s from step %d", out, int(gan.step))

    out.mkdir(parents=True, exist_ok=True)
    run_info = {"data": {"dir": str(data_dir), "train_split": train_split, "val_split": val_split,
                         "train_images": n_train, "val_images": n_val},
                "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
                "device": device_name()}
    write_atomic(out / "config.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(config.to_dict() | run_info,
                                                              indent=2) + "\n"))

    train_batches = data.training_batches(hr_train, config.batch_size, config.seed)
    sample_lr, sample_hr = next(iter(val_pairs.unbatch().batch(SAMPLE_IMAGES)))
    history = keras.callbacks.CSVLogger(str(out / "history.csv"), append=True)
    shared_callbacks = [
        StepColumn(gan.step),
        SampleGrid(sample_lr.numpy(), sample_hr.numpy(), gan.step, out / "samples",
                    out / "logs" / "samples"),
        keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False),
        history,
    ]

    def fit_until(stop_at: int) -> None:
        step = int(gan.step)
        if step >= stop_at:
            return
        saver = CheckpointEvery(manager, gan.step, config.checkpoint_every, stop_at, wall_seconds)
        try:
            gan.fit(train_batches, validation_data=val_pairs,
                    steps_per_epoch=config.checkpoint_every,
                    initial_epoch=step // config.checkpoint_every,
                    epochs=math.ceil(stop_at / config.checkpoint_every),
                    callbacks=[saver, *shared_callbacks], shuffle=False, verbose=verbose)
        except KeyboardInterrupt:
            saver.save()
            raise TrainingInterrupted(
                f"interrupted at step {int(gan.step)}; checkpoint saved in {out / 'checkpoints'}."
                " Run the same command again to resume") from None
        if saver.nonfinite_step is not None:
            raise UserError(
                f"loss became NaN/Inf at step {saver.nonfinite_step}; training stopped and the "
                f"last good checkpoint in {out / 'checkpoints'} was kept. Lower the learning "
                "rates or the adversarial weight and run again")

    if config.pretrain_steps:
        gan.set_adversarial(False)
        fit_until(config.pretrain_steps)
        if int(gan.step) == config.pretrain_steps:  # only G as it was at the warm-up's end
            _save_generator(gan.generator, out / "generator_mse.weights.h5")
    gan.set_adversarial(True)
    fit_until(config.steps)

    if _has_nonfinite_weights(gan.generator):
        raise UserError(f"the generator has NaN/Inf weights; nothing exported from {out}")
    _save_generator(gan.generator, out / "generator.weights.h5")
    _save_generator(gan.generator, out / "generator.keras")
    final = gan.evaluate(val_pairs, verbose=0, return_dict=True)
    summary = {"steps_completed": int(gan.step), "steps": config.steps,
               "wall_seconds": round(float(wall_seconds.numpy()), 1),
               "device": run_info["device"], "train_images": n_train,
               "val": {"images": n_val, "psnr_rgb": round(float(final["psnr"]), 3)}}
    write_atomic(summary_path,
                 lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2) + "\n"))
    return summary
