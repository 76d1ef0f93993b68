"""Many image files into uint8 arrays, decoded by Pillow in parallel threads.

One file is read by `dcgan_sr.pixels`; which crop is HR is `dcgan_sr.degrade`'s protocol
(central square, antialiased bicubic to 128x128). Files that cannot be read are named in
the log and left out, so every result stays keyed by its own file.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from dcgan_sr import degrade
from dcgan_sr.errors import UserError
from dcgan_sr.pixels import read_photo
from dcgan_sr.vocabulary import HR_SIZE

log = logging.getLogger(__name__)


def hr_from_file(path: Path) -> np.ndarray | None:
    """uint8 128x128x3 HR crop of an image file, or None if unreadable or too large."""
    photo = read_photo(path)
    return None if photo is None else degrade.hr_from_window(degrade.central_square(photo))


def window_from_file(path: Path) -> np.ndarray | None:
    """The training window of an image file (`degrade.training_window`), or None."""
    photo = read_photo(path)
    return None if photo is None else degrade.training_window(photo)


def load_each(files: list[Path], read, workers: int | None = None,
              refuse_none: bool = True) -> tuple[list[np.ndarray], list[Path]]:
    """`read(file)` for every file in parallel threads, skipping (and naming in the log)
    those it returns None for; returns (arrays, files kept). Refuses a list of which no file
    can be read, unless `refuse_none` is off (a chunk of a longer list)."""
    with ThreadPoolExecutor(workers or os.cpu_count()) as pool:
        results = list(pool.map(read, files))
    report_skipped(files, [f for f, r in zip(files, results) if r is None], refuse_none)
    kept = [(f, r) for f, r in zip(files, results) if r is not None]
    return [r for _, r in kept], [f for f, _ in kept]


def load_photos(files: list[Path]) -> tuple[list[np.ndarray], list[Path]]:
    """Every readable file as a uint8 RGB photo (`pixels.read_photo`), and the files kept."""
    return load_each(files, read_photo)


def load_hr(files: list[Path], workers: int | None = None,
            refuse_none: bool = True) -> tuple[np.ndarray, list[Path]]:
    """Decode `files` into an N x 128 x 128 x 3 uint8 array of HR crops; returns (array, files kept)."""
    crops, kept = load_each(files, hr_from_file, workers, refuse_none)
    if not crops:  # none readable: an empty batch, not np.stack's error
        return np.zeros((0, HR_SIZE, HR_SIZE, 3), np.uint8), kept
    return np.stack(crops), kept


def load_windows(files: list[Path]) -> list[np.ndarray]:
    """The training windows of `files` (central squares at up to degrade.MAX_WINDOW px),
    for the realistic mix, which degrades from the photo's own resolution."""
    return load_each(files, window_from_file)[0]


def report_skipped(files: list[Path], skipped: list[Path], refuse_none: bool = True) -> None:
    """Name skipped files in the log; refuse when none of `files` could be read (unless
    `refuse_none` is off: a chunk of a longer list)."""
    if skipped:
        log.warning("skipped %d unreadable or oversized image(s) of %d, e.g. %s",
                    len(skipped), len(files), ", ".join(str(f) for f in skipped[:3]))
    if refuse_none and len(skipped) == len(files):
        raise UserError(f"none of the {len(files)} images could be read "
                        f"(first: {files[0]}); check that they are JPEG or PNG files")
