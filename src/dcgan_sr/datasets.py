"""What `train` feeds `fit`: training and validation batches from a folder of photos or a
prepared folder, by the protocol (LR made on the device by the train step) or the realistic
mix (LR made on the CPU by dcgan_sr.degrade), and the fixed sample pairs of the run's grids."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import keras
import numpy as np

from dcgan_sr import batches, data, decoding, degrade, prepare
from dcgan_sr.config import Config
from dcgan_sr.errors import UserError
from dcgan_sr.pixels import to_model
from dcgan_sr.resize import pairs_from_hr
from dcgan_sr.runtime import has_tensorflow

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainingData:
    train: object  # batches for `fit`: a PyDataset, or a tf.data.Dataset over TFRecords
    val: object
    samples: tuple[np.ndarray, np.ndarray]  # (LR, HR) in [-1, 1] for the sample grids
    n_train: int
    n_val: int

SAMPLE_IMAGES = 8


def check_batch_size(config: Config, n_train: int, data_dir: Path) -> None:
    """Refuse a batch larger than the training images, before any of them is decoded."""
    if config.batch_size > n_train:
        raise UserError(f"--batch-size {config.batch_size} is larger than the {n_train} "
                        f"training images of {data_dir}; use at most {n_train}")


def _split_files(config: Config, data_dir: Path, train_split: str, val_split: str):
    files = data.find_images(data_dir)
    train_files = data.split_files(files, train_split, data_dir)
    val_files = data.split_files(files, val_split, data_dir)[: config.val_images]
    if not train_files:
        raise UserError(f"{data_dir}: no images of the {train_split!r} split (names outside "
                        "CelebA's numbering count as 'test'); pass --train-split all to train "
                        "on every image")
    check_batch_size(config, len(train_files), data_dir)
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


def _realistic(config: Config, data_dir: Path, train_split: str, val_split: str,
               workers: int = 1):
    """The realistic mix, made on the CPU from each photo's window (dcgan_sr.degrade);
    validation on a fixed draw of the same mix (seeded), so val PSNR measures the task."""
    if prepare.is_prepared(data_dir):
        log.info("realistic degradations from the prepared 128x128 crops; a folder of photos "
                 "lets them start from the photos' own resolution")
        train_windows = prepare.load_prepared(data_dir, train_split)
        check_batch_size(config, len(train_windows), data_dir)
        val_windows = prepare.load_prepared(data_dir, val_split)[: config.val_images]
    else:
        train_files, val_files = _split_files(config, data_dir, train_split, val_split)
        train_windows = decoding.load_windows(train_files)
        val_windows = decoding.load_windows(val_files)
    val_windows = val_windows[: len(val_windows) // workers * workers]
    mix = degrade.RealisticMix.from_config(config)
    train_batches = batches.DegradedBatches(train_windows, mix, config.batch_size,
                                            steps=config.checkpoint_every, seed=config.seed,
                                            workers=2)
    val_lr, val_hr = degrade.pairs(val_windows, mix, seed=config.seed + 1)
    samples = (to_model(val_lr[:SAMPLE_IMAGES]), to_model(val_hr[:SAMPLE_IMAGES]))
    return TrainingData(train_batches, batches.PairBatches(val_lr, val_hr, _val_batch_size(workers)),
                        samples, len(train_windows), len(val_windows))


def _val_batch_size(workers: int) -> int:
    """32, or the nearest multiple of the worker count below it (each worker takes a share)."""
    return max(workers, 32 // workers * workers)


def load(config: Config, data_dir: Path, train_split: str, val_split: str,
         workers: int = 1) -> TrainingData:
    """The batches of a run. With several `workers`, the validation images are cut to a
    multiple of their number."""
    if config.degradation == "realistic":
        return _realistic(config, data_dir, train_split, val_split, workers)
    # uint8 HR crops (prepared and memory-mapped, or decoded once by Pillow), batched with
    # flips; the protocol's LR is made from them on the device by the train step.
    shards = 0
    if prepare.is_prepared(data_dir):
        if has_tensorflow() and workers == 1:
            shards = prepare.tfrecord_shards(data_dir, train_split)
        hr_train = prepare.load_prepared(data_dir, train_split)
        check_batch_size(config, len(hr_train), data_dir)
        hr_val = prepare.load_prepared(data_dir, val_split)[: config.val_images]
    else:
        train_files, val_files = _split_files(config, data_dir, train_split, val_split)
        hr_train, _ = decoding.load_hr(train_files)
        hr_val, _ = decoding.load_hr(val_files)
    hr_val = hr_val[: len(hr_val) // workers * workers]
    if shards:  # tf.data over TFRecord shards
        from dcgan_sr import records
        log.info("training images from %d TFRecord files of %s", shards, data_dir)
        train_batches = records.training_batches(records.read_shards(data_dir, train_split, shards),
                                                 config.batch_size, config.seed)
    else:
        train_batches = batches.HRBatches(hr_train, config.batch_size,
                                          steps=config.checkpoint_every, seed=config.seed,
                                          workers=4)
    val_batches = batches.HRBatches(hr_val, _val_batch_size(workers), shuffle=False)
    return TrainingData(train_batches, val_batches,
                        _protocol_samples(np.asarray(hr_val[:SAMPLE_IMAGES])), len(hr_train),
                        len(hr_val))


def _protocol_samples(hr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return tuple(keras.ops.convert_to_numpy(x) for x in pairs_from_hr(hr))
