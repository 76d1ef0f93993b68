"""Sharded TFRecords of prepared HR crops, for `tf.data` at scale (TensorFlow only).

`dcgan-sr prepare --tfrecord-shards N` writes, beside each split's memory-mapped array,

    DIR/<split>-00000-of-0000N.tfrecord ...   one tf.train.Example per face:
                                               "hr": 128*128*3 raw uint8 bytes

A memory map serves one machine. Shards suit `tf.data` where the data is read over a
network file system: files are read in parallel, interleaved. Under TensorFlow, with one
process, `dcgan-sr train --data DIR` reads the shards when they are there; several workers
(`--strategy multiworker`, on JAX) read the memory map, each its own share of every batch.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from dcgan_sr.vocabulary import HR_SIZE

log = logging.getLogger(__name__)

HR_SHAPE = (HR_SIZE, HR_SIZE, 3)


def shard_paths(folder: str | Path, split: str, shards: int) -> list[Path]:
    return [Path(folder) / f"{split}-{k:05d}-of-{shards:05d}.tfrecord" for k in range(shards)]


def write_shards(hr: np.ndarray, folder: str | Path, split: str, shards: int) -> list[Path]:
    """Write the N x 128 x 128 x 3 uint8 crops `hr` as `shards` files of consecutive rows.
    Each file is written under a temporary name and renamed; files already there are kept."""
    paths = shard_paths(folder, split, shards)
    for path, rows in zip(paths, np.array_split(np.arange(len(hr)), shards)):
        if path.exists():
            continue
        tmp = path.with_name(f".tmp-{path.name}")
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for start in range(0, len(rows), 1024):  # a memory map is read in chunks
                for image in np.asarray(hr[rows[start:start + 1024]]):
                    feature = {"hr": tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[image.tobytes()]))}
                    example = tf.train.Example(features=tf.train.Features(feature=feature))
                    writer.write(example.SerializeToString())
        os.replace(tmp, path)
        log.info("%s: %d images", path.name, len(rows))
    return paths


def _parse(serialized: tf.Tensor) -> tf.Tensor:
    features = tf.io.parse_single_example(
        serialized, {"hr": tf.io.FixedLenFeature([], tf.string)})
    return tf.reshape(tf.io.decode_raw(features["hr"], tf.uint8), HR_SHAPE)


def read_shards(folder: str | Path, split: str, shards: int) -> tf.data.Dataset:
    """The uint8 HR crops of a split's shards, files read in parallel (order not kept).
    Its length is left unknown: under a multi-worker strategy each worker reads a share."""
    files = tf.data.Dataset.from_tensor_slices([str(p) for p in shard_paths(folder, split, shards)])
    records = files.interleave(tf.data.TFRecordDataset, cycle_length=min(shards, 8),
                               num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    return records.map(_parse, num_parallel_calls=tf.data.AUTOTUNE)


def training_batches(hr_images: tf.data.Dataset, batch_size: int, seed: int) -> tf.data.Dataset:
    """Endless shuffled, randomly flipped uint8 HR batches of `read_shards`' crops; the train
    step makes LR from them on the device (`dcgan_sr.resize.pairs_from_hr`)."""
    count = int(hr_images.cardinality())  # negative when unknown (TFRecords)
    return (hr_images
            .shuffle(min(count, 10_000) if count > 0 else 10_000, seed=seed,
                     reshuffle_each_iteration=True)
            .repeat()
            .map(lambda hr: tf.image.random_flip_left_right(hr, seed=seed),
                 num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))
