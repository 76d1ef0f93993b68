"""A run folder (`dcgan-sr train --out`): the lock held while a run trains, what a run
writes there (and so all that `--overwrite` may delete), the finished-run check, and the
files written beside the checkpoints (config, history, summary, generators).

    config.json            every hyperparameter, the data counts, versions, how it executed
    checkpoints/           G, D, both optimisers and the step (dcgan_sr.checkpoints)
    history.csv            one row per epoch (= checkpoint interval): losses, val PSNR, step
    logs/                  TensorBoard scalars and sample grids (when TensorFlow is installed)
    samples/               the same sample grids as PNG
    generators/            G at every checkpoint (train --keep-generators)
    generator_mse.weights.h5   G at the end of the warm-up (when there is one)
    generator.keras, generator.weights.h5   G at the end (its moving average with EMA)
    summary.json           steps_completed, wall time, final validation metrics
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None

import keras

from dcgan_sr.config import RESUMABLE_KEYS, Config
from dcgan_sr.errors import UserError
from dcgan_sr.io import remove_stale_temporaries, write_atomic
from dcgan_sr.presets import stamp_architecture

log = logging.getLogger(__name__)

# A run's own files at the top of its folder.
RUN_FILES = ("history.csv", "summary.json", "generator_mse.weights.h5", "generator.weights.h5",
             "generator.keras", "config.json")
# What a run writes in its subfolders (vocabulary.RUN_SUBFOLDERS): all that --overwrite
# deletes there.
RUN_FOLDERS = {"checkpoints": ("ckpt-*", "latest.json", ".tmp-*"),
               "samples": ("step_*.png", ".tmp-*"),
               "generators": ("step_*.weights.h5", ".tmp-*"),
               "logs": ("events.out.tfevents.*",)}
# A run's files with common names, and how to tell them from a user's file of the same name.
RUN_JSON = {"config.json": lambda d: "versions" in d and "execution" in d,
            "summary.json": lambda d: "steps_completed" in d}
HISTORY_HEADER = ("step", "val_psnr")  # columns every run's history.csv has


@contextlib.contextmanager
def lock(out: Path):
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


def remove_killed_writes(out: Path) -> None:
    """The temporary files a killed run left half-written in its folder (`.tmp-PID-*`)."""
    for folder in (out, *(out / name for name in RUN_FOLDERS)):
        for path in remove_stale_temporaries(folder):
            log.info("removed %s, left by a run that was killed while writing it", path)


def check_out_dir(out: Path, config: Config, overwrite: bool) -> None:
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
    if (out / "history.csv").exists() and not _history_of_a_run(out / "history.csv"):
        strangers.append("history.csv")
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


def _history_of_a_run(path: Path) -> bool:
    try:
        with open(path, newline="") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return all(column in header for column in HISTORY_HEADER)


def finished_summary(out: Path, config: Config) -> dict | None:
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


def keep_history_until(path: Path, step: int) -> None:
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


def save_generator(generator: keras.Model, path: Path, config: Config) -> None:
    def write(tmp):
        if path.name.endswith(".weights.h5"):
            generator.save_weights(tmp)
            stamp_architecture(tmp, config)
        else:
            generator.save(tmp)
    write_atomic(path, write)
