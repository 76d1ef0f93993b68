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
inside the train step, on the device (`dcgan_sr.resize.pairs_from_hr`).
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np

from dcgan_sr import data, degrade
from dcgan_sr.errors import UserError, first_line
from dcgan_sr.io import write_atomic, write_json_atomic

log = logging.getLogger(__name__)

MANIFEST = "prepared.json"


def hr_from_file(path: Path) -> np.ndarray | None:
    """uint8 128x128x3 HR crop of an image file by Pillow, or None if unreadable or too large."""
    photo = degrade.read_photo(path, data.MAX_PHOTO_PIXELS)
    return None if photo is None else degrade.hr_from_window(degrade.central_square(photo))


def load_each(files: list[Path], read=hr_from_file, workers: int | None = None,
              refuse_none: bool = True) -> tuple[list[np.ndarray], list[Path]]:
    """`read(file)` for every file in parallel threads, skipping (and naming in the log)
    those it returns None for; returns (arrays, files kept). Refuses a list of which no file
    can be read, unless `refuse_none` is off (a chunk of a longer list)."""
    with ThreadPoolExecutor(workers or os.cpu_count()) as pool:
        results = list(pool.map(read, files))
    data.report_skipped(files, [f for f, r in zip(files, results) if r is None], refuse_none)
    kept = [(f, r) for f, r in zip(files, results) if r is not None]
    return [r for _, r in kept], [f for f, _ in kept]


def load_hr(files: list[Path], workers: int | None = None,
            refuse_none: bool = True) -> tuple[np.ndarray, list[Path]]:
    """Decode `files` into an N x 128 x 128 x 3 uint8 array of HR crops; returns (array, files kept)."""
    crops, kept = load_each(files, hr_from_file, workers, refuse_none)
    if not crops:  # none readable: an empty batch, not np.stack's error
        return np.zeros((0, data.HR_SIZE, data.HR_SIZE, 3), np.uint8), kept
    return np.stack(crops), kept


def load_photos(files: list[Path]) -> tuple[list[np.ndarray], list[Path]]:
    """Every readable file as a uint8 RGB photo (dcgan_sr.pixels), and the files kept."""
    return load_each(files, lambda path: degrade.read_photo(path, data.MAX_PHOTO_PIXELS))


def load_windows(files: list[Path]) -> list[np.ndarray]:
    """The training windows of `files` (central squares at up to degrade.MAX_WINDOW px),
    for the realistic mix, which degrades from the photo's own resolution."""
    def read(path):
        photo = degrade.read_photo(path, data.MAX_PHOTO_PIXELS)
        return None if photo is None else degrade.training_window(photo)
    return load_each(files, read)[0]


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
    try:
        previous = manifest_splits(out) if is_prepared(out) else {}
    except UserError as damaged:  # prepare is the command that repairs it
        log.info("%s; writing it anew", damaged)
        previous = {}
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
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


def _write_split(files: list[Path], target: Path, chunk: int) -> list[str]:
    """The readable files' HR crops into `target`, through a temporary file that is removed
    if anything goes wrong; the names of the files kept."""
    tmp = target.with_name(f".tmp-{target.name}")
    try:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                          shape=(len(files), data.HR_SIZE, data.HR_SIZE, 3))
        kept: list[str] = []
        for start in range(0, len(files), chunk):
            crops, ok = load_hr(files[start:start + chunk], refuse_none=False)
            array[len(kept):len(kept) + len(crops)] = crops
            kept += [f.name for f in ok]
            log.info("%s: %d/%d images", target.name, start + len(files[start:start + chunk]),
                     len(files))
        array.flush()
        del array
        if not kept:
            raise UserError(f"{target.stem}: none of its {len(files):,} images could be read; "
                            "check the folder passed to --data")
        if len(kept) < len(files):  # drop the rows of skipped files
            full = np.load(tmp, mmap_mode="r")[:len(kept)]
            np.save(target.with_name(f".tmp2-{target.name}"), full)
            os.replace(target.with_name(f".tmp2-{target.name}"), tmp)
        os.replace(tmp, target)
        return kept
    finally:
        tmp.unlink(missing_ok=True)
        target.with_name(f".tmp2-{target.name}").unlink(missing_ok=True)


def is_prepared(folder: str | Path) -> bool:
    return (Path(folder) / MANIFEST).is_file()


def manifest_splits(folder: str | Path) -> dict:
    """prepared.json's entry per split ({split: {"images": N, ...}}), or a UserError that
    says how to repair a damaged one."""
    path = Path(folder) / MANIFEST
    try:
        splits = json.loads(path.read_text())["splits"]
        if not isinstance(splits, dict) or not all(isinstance(v, dict) for v in splits.values()):
            raise ValueError("no split entries")
        return splits
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is damaged ({first_line(error)}); run `dcgan-sr prepare --data "
                        f"<CelebA folder> --out {folder}` again to repair it") from None


def tfrecord_shards(folder: str | Path, split: str) -> int:
    """How many TFRecord files a prepared folder holds for `split` (0: none)."""
    shards = manifest_splits(folder).get(split, {}).get("tfrecord_shards", 0)
    return shards if isinstance(shards, int) and shards >= 0 else 0


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


def epoch_order(rng: np.random.Generator, count: int, need: int) -> tuple[np.ndarray, np.ndarray]:
    """`need` indices of `count` items for one epoch (shuffled, wrapping around the data),
    and whether each is flipped left-right."""
    rounds = -(-need // count)
    order = np.concatenate([rng.permutation(count) for _ in range(rounds)])[:need]
    return order, rng.random(need) < 0.5


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
        if self.shuffle:
            self.order, self.flips = epoch_order(self.rng, len(self.hr), self.steps * self.batch_size)

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


class DegradedBatches(keras.utils.PyDataset):
    """(lr, hr) float batches in [-1, 1] made on the CPU by the realistic mix, for any backend.

    `windows` are square uint8 images of any side (a list, or an N x S x S x 3 array):
    shuffled each epoch, flipped left-right at random, each degraded by a fresh draw of
    `mix` seeded by (seed, epoch, position), so a run's data are reproducible.
    """

    def __init__(self, windows, mix: degrade.RealisticMix, batch_size: int, steps: int,
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.windows, self.mix, self.batch_size, self.steps = windows, mix, batch_size, steps
        self.seed, self.epoch = seed, 0
        self.rng = np.random.default_rng(seed)
        self._epoch_order()

    def _epoch_order(self):
        self.order, self.flips = epoch_order(self.rng, len(self.windows), self.steps * self.batch_size)

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        span = slice(index * self.batch_size, (index + 1) * self.batch_size)
        windows = [np.asarray(self.windows[i])[:, ::-1] if flip else np.asarray(self.windows[i])
                   for i, flip in zip(self.order[span], self.flips[span])]
        lr, hr = degrade.pairs(windows, self.mix, seed=self.seed * 100_003 + self.epoch,
                               first_index=span.start)
        return data.to_model(lr), data.to_model(hr)

    def on_epoch_end(self):
        self.epoch += 1
        self._epoch_order()


class PairBatches(keras.utils.PyDataset):
    """Fixed (lr, hr) uint8 arrays as [-1, 1] batches, in order (validation)."""

    def __init__(self, lr: np.ndarray, hr: np.ndarray, batch_size: int = 32, **kwargs):
        super().__init__(**kwargs)
        self.lr, self.hr, self.batch_size = lr, hr, batch_size

    def __len__(self):
        return -(-len(self.hr) // self.batch_size)

    def __getitem__(self, index):
        span = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return data.to_model(self.lr[span]), data.to_model(self.hr[span])


class WorkerShare(keras.utils.PyDataset):
    """One worker's contiguous share of every batch of `batches` (--strategy multiworker):
    worker i of n gets rows [i*b/n, (i+1)*b/n), so the workers' shares, put together in
    worker order, are exactly the batches one process would train on. Each worker reads
    (and, with the realistic mix, degrades) the whole global batch to keep its share:
    exact and simple, at n times the data work, which the train step outweighs."""

    def __init__(self, batches: keras.utils.PyDataset, index: int, count: int):
        super().__init__(workers=batches.workers, use_multiprocessing=batches.use_multiprocessing)
        self.batches, self.index, self.count = batches, index, count

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, position):
        return keras.tree.map_structure(self._share, self.batches[position])

    def _share(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) % self.count:
            raise ValueError(f"a batch of {len(batch)} does not split over {self.count} workers")
        size = len(batch) // self.count
        return batch[self.index * size:(self.index + 1) * size]

    def on_epoch_end(self):
        self.batches.on_epoch_end()
