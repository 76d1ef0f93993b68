"""CelebA on disk: finding its images, the official split, the bundled sample and the
listed subset.

How HR and LR are made from a photo is `dcgan_sr.degrade`; decoding files into arrays is
`dcgan_sr.decoding` (one file: `dcgan_sr.pixels`).
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

from dcgan_sr.errors import UserError, first_line
from dcgan_sr.io import write_atomic
from dcgan_sr.vocabulary import IMAGE_SUFFIXES, KNOWN_IMAGES, RUN_SUBFOLDERS

# The 64 bundled CelebA test-partition faces: package data, so that `demo` and `serve` work
# from a wheel too (data/sample in a checkout is a link to them).
SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
PARTITION_FILE = "list_eval_partition.csv"
SPLITS = ("train", "val", "test")
# CelebA's official partition by file number, used when list_eval_partition.csv is absent.
SPLIT_LAST_NUMBER = {"train": 162_770, "val": 182_637, "test": 202_599}


# --- files and split ---------------------------------------------------------------

def find_images(data_dir: str | Path) -> list[Path]:
    """All images below `data_dir` (Kaggle's nested img_align_celeba/img_align_celeba too),
    sorted; never the sample grids and other files of a training run kept below it."""
    root = Path(data_dir)
    if not root.is_dir():
        raise UserError(f"{root}: no such folder; pass --data a folder of CelebA JPEGs "
                        "(or run `dcgan-sr download` first)")
    found = []
    for folder, dirs, names in os.walk(root):  # followlinks=False: a symlink loop is harmless
        if _holds_a_run(Path(folder)):
            dirs[:] = [d for d in dirs if d not in RUN_SUBFOLDERS]
        found += [Path(folder) / n for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES]
    if not found:
        raise UserError(f"{root}: no images found ({KNOWN_IMAGES}); pass --data the folder "
                        "that holds CelebA's img_align_celeba images")
    return sorted(found, key=lambda p: (p.name, str(p)))


def _holds_a_run(folder: Path) -> bool:
    """Whether `folder` is a training run's --out (its history or its checkpoints' index)."""
    return (folder / "history.csv").is_file() or (folder / "checkpoints" / "latest.json").is_file()


def _folder_and_two_above(root: Path) -> tuple[Path, ...]:
    """Where a folder's CSV files are looked for: Kaggle nests the images two levels down."""
    return (root, *root.parents[:2])


def _partition_table(root: Path) -> dict[str, str] | None:
    """file name -> split, from list_eval_partition.csv in `root` or a folder above the images."""
    for folder in _folder_and_two_above(root):
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


IDENTITIES_FILE = "identities.csv"  # file,identity: who each face is (the 5,100-image subset's)


def people(files: list[Path], data_dir: str | Path) -> list[str] | None:
    """Who each of `files` shows, when the folder says: an identities.csv (file,identity) in
    `data_dir` or a folder above it, or a partition file with a person column (as `dcgan-sr
    subset` writes from data/celeba_5100.csv). None unless every file is listed."""
    for folder in _folder_and_two_above(Path(data_dir)):
        for name, key, column in ((IDENTITIES_FILE, "file", "identity"),
                                  (PARTITION_FILE, "image_id", "person")):
            table = _column(folder / name, key, column)
            if table and all(f.name in table for f in files):
                return [table[f.name] for f in files]
    return None


def _column(path: Path, key: str, column: str) -> dict[str, str] | None:
    if not path.is_file():
        return None
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        return {row[key]: row[column] for row in rows if row.get(column)}
    except (OSError, KeyError, UnicodeDecodeError, csv.Error):
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
