"""HR crops as uint8 NumPy arrays: `dcgan-sr prepare`, Pillow decoding, a PyDataset.

`prepare` decodes a JPEG folder once into one memory-mapped file per split

    DIR/train.npy, DIR/val.npy, DIR/test.npy   uint8, N x 128 x 128 x 3 (HR crops)
    DIR/<split>.files.txt                       the file of each row
    DIR/prepared.json                           images and skipped files per split
    DIR/<split>-*-of-*.tfrecord                 optionally also shards (dcgan_sr.records)

so that training does no JPEG decoding or resizing per epoch and needs no
TensorFlow (the JAX backend on a machine without it). HR crops are made with
Pillow by the protocol of `dcgan_sr.data` (central square, antialiased bicubic);
Pillow's crops are TensorFlow's to within two grey levels
(tests/test_backends.py). LR inputs are made from HR
inside the train step, on the device (`dcgan_sr.gan.pairs_from_hr`).
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from dcgan_sr import data
from dcgan_sr.errors import UserError
from dcgan_sr.io import write_atomic

log = logging.getLogger(__name__)

MANIFEST = "prepared.json"


def hr_from_file(path: Path) -> np.ndarray | None:
    """uint8 128x128x3 HR crop of an image file by Pillow, or None if unreadable or too large."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > data.MAX_PHOTO_PIXELS:
                return None
            image = image.convert("RGB")
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            square = image.crop((left, top, left + side, top + side))
            return np.asarray(square.resize((data.HR_SIZE, data.HR_SIZE), Image.BICUBIC))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def load_hr(files: list[Path], workers: int | None = None) -> tuple[np.ndarray, list[Path]]:
    """Decode `files` in parallel threads into an N x 128 x 128 x 3 uint8 array, skipping
    (and naming in the log) unreadable ones; returns (array, files kept)."""
    with ThreadPoolExecutor(workers or os.cpu_count()) as pool:
        crops = list(pool.map(hr_from_file, files))
    data.report_skipped(files, [f for f, c in zip(files, crops) if c is None])
    kept = [(f, c) for f, c in zip(files, crops) if c is not None]
    return np.stack([c for _, c in kept]), [f for f, _ in kept]


def prepare(data_dir: str | Path, out_dir: str | Path, chunk: int = 2048,
            tfrecord_shards: int = 0) -> dict:
    """Write each split's HR crops of `data_dir` to `out_dir`/<split>.npy; returns the manifest.

    Work goes in chunks with progress in the log; each file is written under a temporary
    name and renamed when complete, and a split already written is kept (resume). With
    `tfrecord_shards`, also that many TFRecord files per split (`dcgan_sr.records`).
    """
    data_dir, out = Path(data_dir), Path(out_dir)
    files = data.find_images(data_dir)
    out.mkdir(parents=True, exist_ok=True)
    previous = json.loads((out / MANIFEST).read_text())["splits"] if is_prepared(out) else {}
    manifest = {"source": str(data_dir), "hr_size": data.HR_SIZE, "splits": {}}
    for split in data.SPLITS:
        split_files = data.split_files(files, split, data_dir)
        if not split_files:
            continue
        target = out / f"{split}.npy"
        names_file = out / f"{split}.files.txt"
        if target.exists() and names_file.exists():
            log.info("%s exists: kept", target)
            kept = names_file.read_text().splitlines()
        else:
            kept = _write_split(split_files, target, chunk)
            write_atomic(names_file, lambda tmp: Path(tmp).write_text("\n".join(kept) + "\n"))
        manifest["splits"][split] = {"images": len(kept), "skipped": len(split_files) - len(kept)}
        shards = tfrecord_shards or previous.get(split, {}).get("tfrecord_shards", 0)
        if shards:
            from dcgan_sr import records  # TensorFlow, needed only for TFRecords
            records.write_shards(np.load(target, mmap_mode="r"), out, split, shards)
            manifest["splits"][split]["tfrecord_shards"] = shards
    write_atomic(out / MANIFEST,
                 lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=2) + "\n"))
    return manifest


def _write_split(files: list[Path], target: Path, chunk: int) -> list[str]:
    tmp = target.with_name(f".tmp-{target.name}")
    array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                      shape=(len(files), data.HR_SIZE, data.HR_SIZE, 3))
    kept: list[str] = []
    for start in range(0, len(files), chunk):
        crops, ok = load_hr(files[start:start + chunk])
        array[len(kept):len(kept) + len(crops)] = crops
        kept += [f.name for f in ok]
        log.info("%s: %d/%d images", target.name, start + len(files[start:start + chunk]),
                 len(files))
    array.flush()
    del array
    if len(kept) < len(files):  # drop the rows of skipped files
        full = np.load(tmp, mmap_mode="r")[:len(kept)]
        np.save(target.with_name(f".tmp2-{target.name}"), full)
        os.replace(target.with_name(f".tmp2-{target.name}"), tmp)
    os.replace(tmp, target)
    return kept


def is_prepared(folder: str | Path) -> bool:
    return (Path(folder) / MANIFEST).is_file()


def tfrecord_shards(folder: str | Path, split: str) -> int:
    """How many TFRecord files a prepared folder holds for `split` (0: none)."""
    entry = json.loads((Path(folder) / MANIFEST).read_text())["splits"].get(split, {})
    return entry.get("tfrecord_shards", 0)


def load_prepared(folder: str | Path, split: str) -> np.ndarray:
    """The memory-mapped HR crops of one split ('train+val' joins two) of a prepared folder."""
    folder = Path(folder)
    parts = list(data.SPLITS) if split == "all" else split.split("+")
    arrays = [np.load(folder / f"{p}.npy", mmap_mode="r") for p in parts
              if (folder / f"{p}.npy").exists()]
    if not arrays:
        raise UserError(f"{folder}: no prepared images of split {split!r}; run "
                        f"`dcgan-sr prepare --data <CelebA folder> --out {folder}` again")
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


class HRBatches(keras.utils.PyDataset):
    """uint8 HR batches from an array (memory-mapped or not), for any Keras backend.

    For training: shuffled each epoch, flipped left-right at random, `steps` batches an
    epoch of `batch_size` (drop remainder). For validation (`shuffle=False`): in order.
    """

    def __init__(self, hr: np.ndarray, batch_size: int, steps: int | None = None,
                 shuffle: bool = True, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.hr, self.batch_size, self.shuffle = hr, batch_size, shuffle
        self.steps = steps or -(-len(hr) // batch_size)
        self.rng = np.random.default_rng(seed)
        self._epoch_order()

    def _epoch_order(self):
        if self.shuffle:  # enough indices for this epoch's batches, wrapping around the data
            need = self.steps * self.batch_size
            rounds = -(-need // len(self.hr))
            self.order = np.concatenate([self.rng.permutation(len(self.hr))
                                         for _ in range(rounds)])[:need]
            self.flips = self.rng.random(need) < 0.5

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        if not self.shuffle:
            return np.asarray(self.hr[index * self.batch_size:(index + 1) * self.batch_size])
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        order = np.argsort(rows)  # sorted reads of a memory map, then back in random order
        batch = np.asarray(self.hr[rows[order]])[np.argsort(order)]
        flip = self.flips[index * self.batch_size:(index + 1) * self.batch_size]
        batch[flip] = batch[flip, :, ::-1]
        return batch

    def on_epoch_end(self):
        self._epoch_order()
