"""CelebA on disk: finding images, the official split, pixel scaling, tf.data for TFRecords.

How HR and LR are made from a photo is `dcgan_sr.degrade`; decoding files into HR crops
is `dcgan_sr.arrays`. Inside the models, pixels are scaled to [-1, 1].
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from dcgan_sr.errors import UserError, first_line
from dcgan_sr.io import write_atomic

if TYPE_CHECKING:
    import tensorflow as tf

log = logging.getLogger(__name__)

# The 64 bundled CelebA test-partition faces: package data, so that `demo` and `serve` work
# from a wheel too (data/sample in a checkout is a link to them).
SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
HR_SIZE = 128
SCALE = 4
LR_SIZE = HR_SIZE // SCALE
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
KNOWN_IMAGES = "/".join(sorted(IMAGE_SUFFIXES))
# Larger photos are skipped unread, as decompression bombs (Pillow's default limit).
MAX_PHOTO_PIXELS = 89_478_485
PARTITION_FILE = "list_eval_partition.csv"
SPLITS = ("train", "val", "test")
# CelebA's official partition by file number, used when list_eval_partition.csv is absent.
SPLIT_LAST_NUMBER = {"train": 162_770, "val": 182_637, "test": 202_599}


# --- files and split ---------------------------------------------------------------

def find_images(data_dir: str | Path) -> list[Path]:
    """All images below `data_dir` (Kaggle's nested img_align_celeba/img_align_celeba too), sorted."""
    root = Path(data_dir)
    if not root.is_dir():
        raise UserError(f"{root}: no such folder; pass --data a folder of CelebA JPEGs "
                        "(or run `dcgan-sr download` first)")
    found = []
    for folder, _dirs, names in os.walk(root):  # followlinks=False: a symlink loop is harmless
        found += [Path(folder) / n for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES]
    if not found:
        raise UserError(f"{root}: no images found ({KNOWN_IMAGES}); pass --data the folder "
                        "that holds CelebA's img_align_celeba images")
    return sorted(found, key=lambda p: (p.name, str(p)))


def _partition_table(root: Path) -> dict[str, str] | None:
    """file name -> split, from list_eval_partition.csv in `root` or a folder above the images."""
    for folder in (root, *root.parents[:2]):
        table_path = folder / PARTITION_FILE
        if table_path.is_file():
            return _read_partition(table_path)
    return None


def _read_partition(path: Path) -> dict[str, str]:
    """file name -> split, from a CSV of image_id,partition (0 train, 1 val, 2 test)."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        return {row["image_id"]: SPLITS[int(row["partition"])] for row in rows}
    except (KeyError, ValueError, IndexError, TypeError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{path}: not CelebA's partition file ({type(error).__name__}: "
                        f"{first_line(error)}); it needs an image_id and a partition (0, 1 or 2) "
                        "column: fix it, or delete it to split by file number") from None


def split_of_number(number: int) -> str:
    for split in SPLITS:
        if number <= SPLIT_LAST_NUMBER[split]:
            return split
    raise ValueError(f"CelebA has no image number {number}")


def split_files(files: list[Path], split: str, data_dir: str | Path) -> list[Path]:
    """The files of one official split ('train', 'val', 'test') or of several ('train+val', 'all').

    Images whose names are not CelebA numbers (a user's own folder) count as 'test'.
    """
    wanted = set(SPLITS) if split == "all" else set(split.split("+"))
    if not wanted <= set(SPLITS):
        raise UserError(f"unknown split {split!r}; use train, val, test, train+val or all")
    table = _partition_table(Path(data_dir))

    def split_of(path: Path) -> str:
        if table is not None and path.name in table:
            return table[path.name]
        if path.stem.isdigit() and 1 <= int(path.stem) <= SPLIT_LAST_NUMBER["test"]:
            return split_of_number(int(path.stem))
        return "test"

    return [path for path in files if split_of(path) in wanted]


def make_subset(data_dir: str | Path, list_file: str | Path, out_dir: str | Path) -> int:
    """Copy the images named in `list_file` (a CSV in list_eval_partition.csv's format:
    image_id, partition) from a CelebA folder into `out_dir`, with the list as its
    list_eval_partition.csv; returns how many were copied. A file already in `out_dir` with
    the same bytes is kept; one that differs is never overwritten."""
    list_file, out = Path(list_file), Path(out_dir)
    try:
        with open(list_file, newline="") as handle:
            wanted = [row["image_id"] for row in csv.DictReader(handle)]
    except (OSError, UnicodeDecodeError, KeyError, csv.Error) as error:
        raise UserError(f"{list_file}: not a readable image list ({type(error).__name__}); pass "
                        "--list a CSV with an image_id column, e.g. data/celeba_5100.csv") from None
    found = {path.name: path for path in find_images(data_dir)}
    missing = [name for name in wanted if name not in found]
    if missing:
        raise UserError(f"{data_dir}: {len(missing):,} of the {len(wanted):,} images in {list_file} "
                        f"are missing (first: {missing[0]}); pass --data the full CelebA folder "
                        "(`dcgan-sr download`)")
    clashes = [name for name in wanted if (out / name).exists()
               and (out / name).read_bytes() != found[name].read_bytes()]
    if clashes:
        raise UserError(f"{out / clashes[0]} exists and differs from CelebA's (and "
                        f"{len(clashes) - 1} more); nothing was copied. Choose another --out")
    copied = 0
    for name in wanted:
        if not (out / name).exists():
            write_atomic(out / name, lambda tmp, name=name: shutil.copyfile(found[name], tmp))
            copied += 1
    write_atomic(out / PARTITION_FILE, lambda tmp: shutil.copyfile(list_file, tmp))
    return copied


# --- pixels in the models ------------------------------------------------------------
# The models work in [-1, 1]: pixel / 127.5 - 1. `to_model` and `to_pixels` are the one
# place that scaling is written; they take NumPy or a backend tensor (inside a model or a
# train step) and give the same kind back.

PIXEL_HALF_RANGE = 127.5


def to_model(images):
    """Pixels [0, 255] (uint8 or float) -> float32 [-1, 1]."""
    if isinstance(images, (np.ndarray, np.generic, list, tuple)):
        images = np.asarray(images, np.float32)
    else:
        from keras import ops
        images = ops.cast(images, "float32")
    return images / PIXEL_HALF_RANGE - 1.0


def to_pixels(images):
    """[-1, 1] -> float pixels [0, 255], neither rounded nor clipped."""
    return (images + 1.0) * PIXEL_HALF_RANGE


def from_model(images) -> np.ndarray:
    """[-1, 1] (NumPy or an eager tensor) -> uint8 pixels [0, 255], rounded and clipped."""
    return np.clip(np.round(to_pixels(np.asarray(images, np.float32))), 0, 255).astype(np.uint8)


# --- files that could not be read ------------------------------------------------------

def report_skipped(files: list[Path], skipped: list[Path], refuse_none: bool = True) -> None:
    """Name skipped files in the log; refuse when none of `files` could be read (unless
    `refuse_none` is off: a chunk of a longer list)."""
    if skipped:
        log.warning("skipped %d unreadable or oversized image(s) of %d, e.g. %s",
                    len(skipped), len(files), ", ".join(str(f) for f in skipped[:3]))
    if refuse_none and len(skipped) == len(files):
        raise UserError(f"none of the {len(files)} images could be read "
                        f"(first: {files[0]}); check that they are JPEG or PNG files")


def training_batches(hr_images: tf.data.Dataset, batch_size: int, seed: int) -> tf.data.Dataset:
    """Endless shuffled, randomly flipped uint8 HR batches (tf.data, for TFRecord shards);
    the train step makes LR from them on the device (`dcgan_sr.resize.pairs_from_hr`)."""
    import tensorflow as tf  # only here: the rest of this module runs without TensorFlow

    count = int(hr_images.cardinality())  # negative when unknown (TFRecords)
    return (hr_images
            .shuffle(min(count, 10_000) if count > 0 else 10_000, seed=seed,
                     reshuffle_each_iteration=True)
            .repeat()
            .map(lambda hr: tf.image.random_flip_left_right(hr, seed=seed),
                 num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))
