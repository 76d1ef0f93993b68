"""`dcgan-sr prepare`: a CelebA folder decoded once into uint8 HR crops, and the folder it writes.

    DIR/train.npy, DIR/val.npy, DIR/test.npy   uint8, N x 128 x 128 x 3 (HR crops)
    DIR/<split>.files.txt                       the file of each row
    DIR/prepared.json                           images and skipped files per split
    DIR/<split>-*-of-*.tfrecord                 optionally also shards (dcgan_sr.records)

so that training does no JPEG decoding or resizing per epoch and needs no TensorFlow (the
JAX backend on a machine without it). HR crops are made with Pillow by the protocol of
`dcgan_sr.degrade` (central square, antialiased bicubic); Pillow's crops are TensorFlow's
to within two grey levels (tests/test_backends.py). LR inputs are made from HR inside the
train step, on the device (`dcgan_sr.resize.pairs_from_hr`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from dcgan_sr import data, decoding
from dcgan_sr.errors import UserError, first_line
from dcgan_sr.io import write_atomic, write_json_atomic
from dcgan_sr.vocabulary import HR_SIZE

log = logging.getLogger(__name__)

MANIFEST = "prepared.json"


def prepare(data_dir: str | Path, out_dir: str | Path, chunk: int = 2048,
            tfrecord_shards: int = 0) -> dict:
    """Write each split's HR crops of `data_dir` to `out_dir`/<split>.npy; returns the manifest.

    Work goes in chunks with progress in the log; each file is written under a temporary
    name and renamed when complete, and a split already written is kept (resume). With
    `tfrecord_shards`, also that many TFRecord files per split (`dcgan_sr.records`).
    """
    data_dir, out = Path(data_dir), Path(out_dir)
    files = data.find_images(data_dir)
    _claim(out, data_dir)
    try:
        previous = manifest_splits(out) if is_prepared(out) else {}
    except UserError as damaged:  # prepare is the command that repairs it
        log.info("%s; writing it anew", damaged)
        previous = {}
    manifest = {"source": str(data_dir), "hr_size": HR_SIZE, "splits": {}}
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
        if shards > len(kept):
            log.warning("%s: %d TFRecord files asked for %d images; writing %d (one image each)",
                        split, shards, len(kept), len(kept))
            shards = len(kept)
        if shards:
            from dcgan_sr import records  # TensorFlow, needed only for TFRecords
            records.write_shards(np.load(target, mmap_mode="r"), out, split, shards)
            manifest["splits"][split]["tfrecord_shards"] = shards
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


SOURCE_FILE = ".prepared-from"  # the folder a prepared folder's faces came from, written first


def _claim(out: Path, data_dir: Path) -> None:
    """Mark `out` as prepared from `data_dir`, or refuse it when it holds (even in part) the
    faces of another folder: a resumed `prepare` keeps the splits already written."""
    source = str(data_dir.resolve())
    earlier = None
    if (out / SOURCE_FILE).is_file():
        earlier = (out / SOURCE_FILE).read_text().strip()
    elif is_prepared(out):  # written before the source file existed
        try:
            earlier = str(Path(json.loads((out / MANIFEST).read_text())["source"]).resolve())
        except (OSError, ValueError, KeyError, TypeError):
            earlier = None
    if earlier is not None and earlier != source:
        raise UserError(f"{out} holds faces prepared from {earlier}; prepare {data_dir} into "
                        "another --out (or delete that folder's contents to prepare it anew)")
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / SOURCE_FILE, lambda tmp: Path(tmp).write_text(source + "\n"))


def _write_split(files: list[Path], target: Path, chunk: int) -> list[str]:
    """The readable files' HR crops into `target`, through a temporary file that is removed
    if anything goes wrong; the names of the files kept."""
    tmp = target.with_name(f".tmp-{target.name}")
    try:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                          shape=(len(files), HR_SIZE, HR_SIZE, 3))
        kept: list[str] = []
        for start in range(0, len(files), chunk):
            crops, ok = decoding.load_hr(files[start:start + chunk], refuse_none=False)
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
