"""Keras callbacks of a training run: a checkpoint at every interval (dcgan_sr.checkpoints;
Ctrl-C answered between two steps), the history file, the progress lines, sample grids.

They work under every backend. Under JAX the model's variables live outside the model
during an epoch; reading `self.model` syncs them, so a callback does that only when it
needs them (at a checkpoint or an epoch's end), never on every step.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import signal
import threading
import time
from pathlib import Path

import keras
import numpy as np

from dcgan_sr.checkpoints import Checkpoints
from dcgan_sr.pixels import from_model
from dcgan_sr.errors import TrainingInterrupted
from dcgan_sr.gan import TERMS
from dcgan_sr.plots import save_png, tile

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("step", *TERMS, "val_psnr", "val_mse")


class StopRequest:
    """While active, Ctrl-C (SIGINT) and SIGTERM (a scheduler's or `kill`'s polite stop) only
    set `requested`, for CheckpointEvery to answer between two steps: an exception raised in
    the middle of TensorFlow's work (while it traces a step, say) can leave it unable to
    save, or crash the process. A second Ctrl-C interrupts at once. Changes nothing outside
    the main thread, or for a signal that is ignored (SIGINT in a background job)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self.signal = None
        self._previous: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for number in self.SIGNALS:
                if signal.getsignal(number) is not signal.SIG_IGN:
                    self._previous[number] = signal.signal(number, self._request)
        return self

    def __exit__(self, *exc_info):
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous = {}

    @property
    def exit_code(self) -> int:
        return 128 + (self.signal or signal.SIGINT)

    def _request(self, signum, frame):
        self.requested, self.signal = True, signum
        if signum == signal.SIGINT:  # a second Ctrl-C: at once
            previous = self._previous.get(signum)
            signal.signal(signum, signal.default_int_handler if previous is None else previous)
        name = "Ctrl-C again" if signum == signal.SIGINT else "Ctrl-C"
        os.write(2, f"dcgan-sr: stopping after this step ({name} to stop at once)\n".encode())


class CheckpointEvery(keras.callbacks.Callback):
    """Saves a checkpoint every `every` steps and stops the phase at `stop_at`; on a
    `stop_request`, saves one after the current step and raises TrainingInterrupted.

    The step is counted here from `start` (the step fit began at), so that the model's
    variables need not be read on every step. Losses that are not finite at a checkpoint
    stop the run unsaved: the last good checkpoint stays.
    """

    def __init__(self, checkpoints: Checkpoints, start: int, every: int, stop_at: int,
                 wall_seconds: float, stop_request: StopRequest | None = None):
        super().__init__()
        self.checkpoints, self.step, self.every, self.stop_at = checkpoints, start, every, stop_at
        self.wall_seconds = wall_seconds
        self.stop_request = stop_request
        self.nonfinite_step = None

    def on_train_begin(self, logs=None):
        self._clock = time.perf_counter()

    def save(self) -> None:
        now = time.perf_counter()
        self.wall_seconds += now - self._clock
        self._clock = now
        gan = self.model
        self.checkpoints.save(gan, int(gan.step), self.wall_seconds)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        interrupted = self.stop_request is not None and self.stop_request.requested
        if self.step % self.every and self.step < self.stop_at and not interrupted:
            return
        if any(not math.isfinite(float(v)) for v in (logs or {}).values()):
            self.nonfinite_step = self.step
            self.model.stop_training = True
            return
        self.save()
        if interrupted:
            raise TrainingInterrupted(
                f"interrupted at step {self.step}; checkpoint saved in {self.checkpoints.folder}."
                " Run the same command again to resume", self.stop_request.exit_code)
        if self.step >= self.stop_at:
            self.model.stop_training = True


class HistoryCSV(keras.callbacks.Callback):
    """history.csv: a row per epoch (checkpoint interval) at its global step, with the same
    columns in both phases; a term that was not computed (the adversarial ones in the
    warm-up) is left empty. Rows are appended under the header the file already has."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        values = {"step": int(self.model.step), "epoch": epoch,
                  **{k: float(v) for k, v in (logs or {}).items()}}
        with open(self.path, "a+", newline="") as handle:
            handle.seek(0)
            header = next(csv.reader(handle), None)
            writer = csv.writer(handle)
            if header is None:
                header = list(HISTORY_COLUMNS)
                writer.writerow(header)
            writer.writerow([values.get(name, "") for name in header])


class TrainingLog(keras.callbacks.Callback):
    """One line per epoch, counted in steps over the whole run (warm-up and adversarial
    phase together), with only the terms this phase computes:

        step 500/3500 (adversarial) - 61 s, 8.2 steps/s, about 6 min left - g_loss: 0.0109 - ...
    """

    def __init__(self, total_steps: int, say=print):
        super().__init__()
        self.total_steps, self.say = total_steps, say

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.start_step = time.perf_counter(), int(self.model.step)

    def on_epoch_end(self, epoch, logs=None):
        step, seconds = int(self.model.step), time.perf_counter() - self.start
        rate = (step - self.start_step) / max(seconds, 1e-9)
        left = (self.total_steps - step) / rate if rate else math.inf
        phase = "adversarial" if self.model.adversarial else "warm-up"
        terms = "".join(f" - {name}: {float(value):.4f}" for name, value in sorted((logs or {}).items()))
        self.say(f"step {step}/{self.total_steps} ({phase}) - {seconds:.0f} s, {rate:.2f} steps/s"
                 f"{f', about {_duration(left)} left' if step < self.total_steps else ''}{terms}")


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{math.ceil(seconds / 60)} min"


class SampleGrid(keras.callbacks.Callback):
    """After each epoch: a grid of LR | SR | HR rows as a PNG (and a TensorBoard image
    when TensorFlow is installed), from G as it would be exported (its EMA, if any)."""

    def __init__(self, lr: np.ndarray, hr: np.ndarray, folder: Path, log_dir: Path | None):
        super().__init__()
        self.lr, self.hr, self.folder = lr, hr, Path(folder)
        self.writer = None
        if log_dir is not None:
            import tensorflow as tf

            self.writer = tf.summary.create_file_writer(str(log_dir))

    def on_epoch_end(self, epoch, logs=None):
        gan = self.model
        with gan.averaged_generator() as generator:
            sr = from_model(generator(self.lr, training=False))
        lr_big = np.repeat(np.repeat(from_model(self.lr), 4, axis=1), 4, axis=2)
        grid = tile(np.stack([lr_big, sr, from_model(self.hr)], axis=1))
        step = int(gan.step)
        self.folder.mkdir(parents=True, exist_ok=True)
        save_png(grid, self.folder / f"step_{step:07d}.png")
        if self.writer is not None:
            import tensorflow as tf

            with self.writer.as_default():
                tf.summary.image("samples (nearest LR | SR | HR)", grid[None], step=step)
