"""CelebA on disk: finding images, the official split, the degradation protocol, tf.data.

(`dcgan_sr.arrays` holds the same HR crops as NumPy arrays: prepared once, or decoded
with Pillow where TensorFlow is absent.)

The degradation protocol (one definition, used by training, evaluation, the demo
and the notebooks):

* HR = the central square of the image (for CelebA's 178x218 aligned crops: all
  178 columns, rows 20-197), resized to 128x128 with antialiased bicubic;
* LR = HR resized to 32x32 with antialiased bicubic;
* both rounded to uint8, as a saved image would be. Pillow's
  ``Image.resize(size, Image.BICUBIC)`` gives the same pixels to within two grey levels.
* Inside the models, pixels are scaled to [-1, 1].
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import numpy as np

from dcgan_sr.errors import UserError

try:
    import tensorflow as tf
except ImportError:  # the JAX backend on a machine without TensorFlow: see dcgan_sr.arrays
    tf = None

log = logging.getLogger(__name__)

# The 64 bundled CelebA test-partition faces (present in a source checkout).
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"
HR_SIZE = 128
SCALE = 4
LR_SIZE = HR_SIZE // SCALE
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp"}
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
        raise UserError(f"{root}: no .jpg/.png/.gif/.bmp images found; pass --data the folder "
                        "that holds CelebA's img_align_celeba images")
    return sorted(found, key=lambda p: (p.name, str(p)))


def _partition_table(root: Path) -> dict[str, str] | None:
    """file name -> split, from list_eval_partition.csv in `root` or a folder above the images."""
    for folder in (root, *root.parents[:2]):
        table_path = folder / PARTITION_FILE
        if table_path.is_file():
            with open(table_path, newline="") as handle:
                rows = csv.DictReader(handle)
                return {row["image_id"]: SPLITS[int(row["partition"])] for row in rows}
    return None


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


# --- the degradation protocol --------------------------------------------------------

def _to_uint8(images: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8)


def resize_bicubic(images: tf.Tensor, size: int) -> tf.Tensor:
    """Antialiased bicubic resize of uint8 images to size x size, rounded to uint8."""
    resized = tf.image.resize(tf.cast(images, tf.float32), (size, size),
                              method="bicubic", antialias=True)
    return _to_uint8(resized)


def center_square(image: tf.Tensor) -> tf.Tensor:
    """The central square of an HxWxC image (rows 20-197 of a 178x218 CelebA crop)."""
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    top, left = (shape[0] - side) // 2, (shape[1] - side) // 2
    return image[top:top + side, left:left + side]


def hr_from_photo(image: tf.Tensor) -> tf.Tensor:
    """uint8 photo (HxWx3) -> uint8 128x128x3 HR target."""
    return resize_bicubic(center_square(image), HR_SIZE)


def lr_from_hr(hr: tf.Tensor) -> tf.Tensor:
    """uint8 HR (...x128x128x3) -> uint8 LR (...x32x32x3)."""
    return resize_bicubic(hr, LR_SIZE)


def to_model(images: tf.Tensor) -> tf.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_unit_range(images) -> np.ndarray:
    """NumPy uint8 [0, 255] -> float32 [-1, 1] (to_model for arrays outside tf.data)."""
    return np.asarray(images, np.float32) / 127.5 - 1.0


def from_model(images) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], rounded."""
    return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


# --- tf.data -------------------------------------------------------------------------

def decode(contents: tf.Tensor) -> tf.Tensor:
    """Image bytes -> uint8 HxWx3. JPEGs use the accurate DCT, as Pillow does (TF's
    default fast DCT is about one grey level off)."""
    return tf.cond(
        tf.io.is_jpeg(contents),
        lambda: tf.io.decode_jpeg(contents, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(contents, channels=3, expand_animations=False))


def _big_endian_u32(contents: tf.Tensor, offset: int) -> tf.Tensor:
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(contents, offset, 4), tf.uint8), tf.int64)
    return raw[0] * 2 ** 24 + raw[1] * 2 ** 16 + raw[2] * 2 ** 8 + raw[3]


def header_pixels(contents: tf.Tensor) -> tf.Tensor:
    """Width x height from a JPEG's or PNG's header, without decoding (0 for other formats)."""
    is_png = tf.strings.substr(contents, 0, 8) == b"\x89PNG\r\n\x1a\n"
    return tf.case([
        (tf.io.is_jpeg(contents),
         lambda: tf.reduce_prod(tf.cast(tf.image.extract_jpeg_shape(contents)[:2], tf.int64))),
        (is_png, lambda: _big_endian_u32(contents, 16) * _big_endian_u32(contents, 20)),
    ], default=lambda: tf.constant(0, tf.int64))


def _read_hr(path: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    contents = tf.io.read_file(path)
    size_ok = tf.debugging.assert_less_equal(header_pixels(contents), tf.constant(MAX_PHOTO_PIXELS, tf.int64),
                                             message="image too large (decompression bomb?)")
    with tf.control_dependencies([size_ok]):
        return path, hr_from_photo(decode(contents))


def report_skipped(files: list[Path], skipped: list[Path]) -> None:
    """Name skipped files in the log; refuse when none of `files` could be read."""
    if skipped:
        log.warning("skipped %d unreadable or oversized image(s) of %d, e.g. %s",
                    len(skipped), len(files), ", ".join(str(f) for f in skipped[:3]))
    if len(skipped) == len(files):
        raise UserError(f"none of the {len(files)} images could be read "
                        f"(first: {files[0]}); check that they are JPEG or PNG files")


def load_hr_images(files: list[Path]) -> tf.data.Dataset:
    """Decode every file once (in parallel) into uint8 HR crops cached in memory
    (48 KiB an image: about 10 GB for all of CelebA).

    Unreadable, truncated and oversized (over MAX_PHOTO_PIXELS) files are skipped,
    named in the log and counted; they never stop a run. Returns a dataset of uint8
    128x128x3 images whose `cardinality()` is the number of readable files.
    """
    paths = tf.data.Dataset.from_tensor_slices([str(f) for f in files])
    decoded = (paths.map(_read_hr, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
               .ignore_errors()
               .cache())
    readable = set()
    for path in decoded.map(lambda path, _hr: path).as_numpy_iterator():  # also fills the cache
        readable.add(path.decode())
    report_skipped(files, [f for f in files if str(f) not in readable])
    hr_images = decoded.map(lambda _path, hr: hr)
    return hr_images.apply(tf.data.experimental.assert_cardinality(len(readable)))


def training_batches(hr_images: tf.data.Dataset, batch_size: int, seed: int,
                     lr_on_device: bool = False) -> tf.data.Dataset:
    """Endless shuffled, randomly flipped (lr, hr) batches in [-1, 1]; with `lr_on_device`,
    uint8 HR batches (the train step makes LR: `dcgan_sr.gan.pairs_from_hr`)."""
    def pair(hr):
        return to_model(lr_from_hr(hr)), to_model(hr)

    count = int(hr_images.cardinality())  # negative when unknown (TFRecords)
    batches = (hr_images
               .shuffle(min(count, 10_000) if count > 0 else 10_000, seed=seed,
                        reshuffle_each_iteration=True)
               .repeat()
               .map(lambda hr: tf.image.random_flip_left_right(hr, seed=seed),
                    num_parallel_calls=tf.data.AUTOTUNE)
               .batch(batch_size, drop_remainder=True))
    if not lr_on_device:
        batches = batches.map(pair, num_parallel_calls=tf.data.AUTOTUNE)
    return batches.prefetch(tf.data.AUTOTUNE)


def evaluation_pairs(hr_images: tf.data.Dataset, batch_size: int = 32) -> tf.data.Dataset:
    """(lr, hr) uint8 batches in file order, for evaluation and validation."""
    return (hr_images.batch(batch_size)
            .map(lambda hr: (lr_from_hr(hr), hr), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))
