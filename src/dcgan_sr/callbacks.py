"""Keras callbacks of a training run: step-exact checkpoints, a step column, sample grids."""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from dcgan_sr.data import from_model
from dcgan_sr.plots import save_png, tile

HISTORY_COLUMNS = ("g_loss", "mse", "content", "adv", "d_loss", "d_real", "d_fake", "val_psnr",
                   "val_mse")


class CheckpointEvery(keras.callbacks.Callback):
    """Saves a tf.train.CheckpointManager every `every` steps and stops the phase at `stop_at`.

    A step whose losses are not finite is never saved: the last good checkpoint stays.
    """

    def __init__(self, manager: tf.train.CheckpointManager, step, every: int, stop_at: int,
                 wall_seconds: tf.Variable):
        super().__init__()
        self.manager, self.step, self.every, self.stop_at = manager, step, every, stop_at
        self.wall_seconds = wall_seconds
        self.nonfinite_step = None

    def on_train_begin(self, logs=None):
        self._clock = time.perf_counter()

    def save(self) -> None:
        now = time.perf_counter()
        self.wall_seconds.assign_add(now - self._clock)
        self._clock = now
        self.manager.save(checkpoint_number=int(self.step))

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.step)
        if any(not math.isfinite(float(v)) for v in (logs or {}).values()):
            self.nonfinite_step = step
            self.model.stop_training = True
            return
        if step % self.every == 0 or step >= self.stop_at:
            self.save()
        if step >= self.stop_at:
            self.model.stop_training = True


class StepColumn(keras.callbacks.Callback):
    """Adds the global step to each epoch's logs and gives every phase the same columns,
    so one CSV history spans the warm-up and the adversarial phase."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["step"] = int(self.step)
        for name in HISTORY_COLUMNS:
            logs.setdefault(name, float("nan"))


class SampleGrid(keras.callbacks.Callback):
    """After each epoch: a grid of LR | SR | HR rows, as a PNG and a TensorBoard image."""

    def __init__(self, lr: np.ndarray, hr: np.ndarray, step, folder: Path, log_dir: Path):
        super().__init__()
        self.lr, self.hr, self.step, self.folder = lr, hr, step, Path(folder)
        self.writer = tf.summary.create_file_writer(str(log_dir))

    def on_epoch_end(self, epoch, logs=None):
        sr = from_model(self.model.generator(self.lr, training=False))
        lr_big = np.repeat(np.repeat(from_model(self.lr), 4, axis=1), 4, axis=2)
        grid = tile(np.stack([lr_big, sr, from_model(self.hr)], axis=1))
        step = int(self.step)
        self.folder.mkdir(parents=True, exist_ok=True)
        save_png(grid, self.folder / f"step_{step:07d}.png")
        with self.writer.as_default():
            tf.summary.image("samples (nearest LR | SR | HR)", grid[None], step=step)
