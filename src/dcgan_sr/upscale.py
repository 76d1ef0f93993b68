"""`dcgan-sr upscale`: image files and folders in, upscaled files out, through an `Upscaler`.

An output folder keeps a list of what this tool wrote there (OUTPUTS_MANIFEST): only those
files may be overwritten, and they are not taken as inputs when the folder is upscaled
again. Nothing else is ever written over: not an input, not a user's own file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None

import numpy as np
from PIL import Image

from dcgan_sr.io import write_atomic, write_json_atomic
from dcgan_sr.pixels import UnreadableImage, read_image
from dcgan_sr.upscaler import output_size
from dcgan_sr.vocabulary import IMAGE_SUFFIXES, KNOWN_IMAGES, MAX_SIDE, OUTPUT_FORMATS


def collect_inputs(inputs: list[str | Path], recursive: bool = False
                   ) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(image file, its output path relative to --out without suffix) for each image named
    directly or found in a named folder (and its subfolders, `recursive`, leaving out what
    earlier upscale runs wrote anywhere in the tree), and the problems met. A folder's
    images keep their place in its tree."""
    files, problems = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            earlier = _earlier_outputs(item) if recursive else set()
            found = sorted(p for p in (item.rglob("*") if recursive else item.iterdir())
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                           and p.resolve() not in earlier)
            if not found:
                problems.append(f"{item}: no images in this folder ({KNOWN_IMAGES})")
            files += [(p, p.relative_to(item).with_suffix("")) for p in found]
        elif item.is_file():
            files.append((item, Path(item.stem)))
        elif item.exists():
            problems.append(f"{item}: not a regular file (a FIFO, device or socket); name an image file")
        else:
            problems.append(f"{item}: no such file or folder")
    return files, problems


def _earlier_outputs(folder: Path) -> set[Path]:
    """Every file that an upscale run listed as its output in a folder below `folder`."""
    outputs = set()
    for manifest in folder.rglob(OUTPUTS_MANIFEST):
        outputs |= {(manifest.parent / name).resolve() for name in _written_before(manifest.parent)}
    return outputs


@dataclass
class UpscaleReport:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


# The outputs this tool wrote into a folder: only they may be overwritten, and they are
# not taken as inputs when the folder is upscaled again.
OUTPUTS_MANIFEST = ".dcgan-sr-outputs.json"


def save_image(image: np.ndarray, path: Path, ext: str) -> str | None:
    """Write `image` in the format of `ext`; a note when the format cannot keep its alpha."""
    picture, note = Image.fromarray(image), None
    if ext == "jpg" and picture.mode == "RGBA":
        picture = Image.alpha_composite(Image.new("RGBA", picture.size, "white"), picture).convert("RGB")
        note = "JPEG has no alpha: put on white"
    options = {"quality": 95} if ext in ("jpg", "webp") else {}
    write_atomic(path, lambda tmp: picture.save(tmp, format=OUTPUT_FORMATS[ext], **options))
    return note


def _written_before(out_dir: Path) -> set[str]:
    try:
        return set(json.loads((out_dir / OUTPUTS_MANIFEST).read_text()))
    except (OSError, ValueError, TypeError):
        return set()


def _record_output(out_dir: Path, name: str) -> set[str]:
    """Add `name` to the folder's manifest and return it whole: read, merged and rewritten
    under a lock, so that two runs writing into one folder at once lose no entry."""
    lock = out_dir / (OUTPUTS_MANIFEST + ".lock")
    with open(lock, "a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        written = _written_before(out_dir) | {name}
        write_json_atomic(out_dir / OUTPUTS_MANIFEST, sorted(written), indent=None)
    return written


def upscale_files(upscaler, inputs: list[str | Path], out_dir: str | Path,
                  overwrite: bool = False, ext: str = "png", suffix: str = "",
                  recursive: bool = False, say: Callable[[str], None] = print,
                  progress: Callable[[int, int], None] | None = None) -> UpscaleReport:
    """Writes OUT/<stem><suffix>.<ext> for each input through `upscaler` (a
    `dcgan_sr.Upscaler`), a folder's subfolders mirrored under OUT with `recursive`.
    Says a line per file, or, given `progress` (called with files done and in all), only
    the problems.
    Never writes over an input, nor (even with `overwrite`) over a file this tool did not
    write; the output folder is checked before any image is computed (an OSError names it)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ours = _written_before(out_dir)
    files, problems = collect_inputs(inputs, recursive)
    files = [(f, rel) for f, rel in files if not _is_ours(f, out_dir, ours)]
    report = UpscaleReport(failed=problems)
    for problem in problems:
        say(f"error: {problem}")
    input_paths = {f.resolve() for f, _ in files}
    claimed: dict[Path, Path] = {}
    for i, (path, relative) in enumerate(files, start=1):
        if progress and i > 1:
            progress(i - 1, len(files))
        target = out_dir / relative.with_name(f"{relative.name}{suffix}.{ext}")
        name = target.relative_to(out_dir).as_posix()
        prefix = f"[{i}/{len(files)}] {path}"
        if target.exists() and not overwrite and not target.is_dir() \
                and target.resolve() not in input_paths and target not in claimed:
            report.skipped.append(target)
            if not progress:
                say(f"{prefix}: {target} exists, skipped (--overwrite to redo)")
            continue
        problem = _refusal(path, target, name in ours, input_paths, claimed, recursive)
        if problem is None:
            try:
                line = _upscale_file(upscaler, path, target, ext)
            except UnreadableImage as error:
                problem = f"{path}: {error}"
            else:
                claimed[target] = path
                ours = _record_output(out_dir, name)
                report.written.append(target)
                if not progress or "; " in line:
                    say(f"{prefix} -> {target} {line}")
                continue
        report.failed.append(problem)
        say(f"error: {problem}")
    if progress and files:
        progress(len(files), len(files))
    return report


def _refusal(path: Path, target: Path, ours: bool, input_paths: set[Path],
             claimed: dict[Path, Path], recursive: bool) -> str | None:
    """Why `target` must not be written for `path`, or None."""
    if target.resolve() in input_paths:
        return f"{path}: output {target} would overwrite an input; choose another --out"
    if target.is_dir():
        return (f"{path}: its output {target} is a folder; move the folder, or choose another "
                "--out or --suffix")
    if target in claimed:
        return (f"{path}: output {target} is already the output of {claimed[target]}; rename one"
                + ("" if recursive else ", or pass --recursive to keep folders apart"))
    if target.exists() and not ours:
        return (f"{path}: {target} exists and was not written by dcgan-sr; it is left as it is "
                "(move it, or choose another --out)")
    return None


def _upscale_file(upscaler, path: Path, target: Path, ext: str) -> str:
    """Upscale `path` into `target`; its line for the log: the sizes, then any notes after
    "; ". UnreadableImage when the file cannot be read or the output cannot be saved as `ext`."""
    image, note = read_image(path)
    size = output_size(image.shape[1], image.shape[0], upscaler.outscale)
    if max(size) > MAX_SIDE.get(ext, max(size)):
        raise UnreadableImage(f"the output, {size[0]}x{size[1]}, is over {ext.upper()}'s "
                              f"{MAX_SIDE[ext]:,}-pixel limit; use --ext png, or a smaller --outscale")
    sr = upscaler(image)
    target.parent.mkdir(parents=True, exist_ok=True)
    notes = [n for n in (note, save_image(sr, target, ext)) if n]
    sizes = f"({image.shape[1]}x{image.shape[0]} -> {sr.shape[1]}x{sr.shape[0]})"
    return sizes + ("; " + "; ".join(notes) if notes else "")


def _is_ours(path: Path, out_dir: Path, ours: set[str]) -> bool:
    """Whether `path` is an output this tool wrote into `out_dir` (not an input to redo)."""
    try:
        return path.resolve().relative_to(out_dir.resolve()).as_posix() in ours
    except ValueError:
        return False
