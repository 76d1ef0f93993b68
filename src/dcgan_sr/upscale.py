"""`dcgan-sr upscale`: image files and folders in, upscaled files out, through an `Upscaler`.

An output folder keeps a list of what this tool wrote there (OUTPUTS_MANIFEST), by name and
by content (SHA-256): only a file whose bytes are still those it wrote may be overwritten,
and only such a file is left out of the inputs when the folder is upscaled again. A user's
file that merely has an output's name is neither. Nothing else is ever written over: not an
input, not a user's own file.
"""

from __future__ import annotations

import errno
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None

import numpy as np
from PIL import Image

from dcgan_sr.io import NAME_MAX, file_digest, remove_stale_temporaries, write_atomic, write_json_atomic
from dcgan_sr.pixels import UnreadableImage, read_image
from dcgan_sr.upscaler import output_size
from dcgan_sr.vocabulary import IMAGE_SUFFIXES, KNOWN_IMAGES, MAX_SIDE, OUTPUT_FORMATS


def collect_inputs(inputs: list[str | Path], recursive: bool = False
                   ) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(image file, its output path relative to --out without suffix) for each image named
    directly or found in a named folder (and its subfolders, `recursive`, symlinked ones
    included, leaving out what earlier upscale runs wrote anywhere in the tree), and the
    problems met. A folder's images keep their place in its tree. A file named twice, or
    named and also found in a named folder, is taken once."""
    files, problems, seen = [], [], set()
    for item in map(Path, inputs):
        if item.is_dir():
            earlier = _earlier_outputs(item) if recursive else set()
            found = sorted(p for p in (_walk(item) if recursive else item.iterdir())
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                           and p.resolve() not in earlier)
            if not found:
                problems.append(f"{item}: no images in this folder ({KNOWN_IMAGES})")
            found = [(p, p.relative_to(item).with_suffix("")) for p in found]
        elif item.is_file():
            found = [(item, Path(item.stem))]
        elif item.exists():
            problems.append(f"{item}: not a regular file (a FIFO, device or socket); name an image file")
            continue
        else:
            problems.append(f"{item}: no such file or folder")
            continue
        for path, relative in found:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                files.append((path, relative))
    return files, problems


def _walk(folder: Path):
    """Every file below `folder`, through symlinked subfolders too (each real folder once)."""
    visited = set()
    for root, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in visited:  # a link back up the tree
            dirs[:] = []
            continue
        visited.add(real)
        yield from (Path(root) / name for name in names)


def _earlier_outputs(folder: Path) -> set[Path]:
    """Every file below `folder` that an upscale run wrote and that is still as it wrote it."""
    outputs = set()
    for manifest in folder.rglob(OUTPUTS_MANIFEST):
        written = _written_before(manifest.parent)
        outputs |= {(manifest.parent / name).resolve() for name in written
                    if _still_ours(manifest.parent / name, written[name], for_input=True)}
    return outputs


@dataclass
class UpscaleReport:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


# The outputs this tool wrote into a folder: only they may be overwritten, and they are
# not taken as inputs when the folder is upscaled again.
OUTPUTS_MANIFEST = ".dcgan-sr-outputs.json"


def save_image(image: np.ndarray, path: Path, ext: str,
               before_replace: Callable[[str], object] | None = None,
               icc_profile: bytes | None = None) -> str | None:
    """Write `image` in the format of `ext` (`before_replace` as in `write_atomic`), with
    the input's ICC colour profile if it had one; a note when the format cannot keep its alpha."""
    picture, note = Image.fromarray(image), None
    if ext == "jpg" and picture.mode == "RGBA":
        picture = Image.alpha_composite(Image.new("RGBA", picture.size, "white"), picture).convert("RGB")
        note = "JPEG has no alpha: put on white"
    options = {"quality": 95} if ext in ("jpg", "webp") else {}
    if icc_profile:
        options["icc_profile"] = icc_profile
    write_atomic(path, lambda tmp: picture.save(tmp, format=OUTPUT_FORMATS[ext], **options),
                 before_replace)
    return note


def _written_before(out_dir: Path) -> dict[str, str | None]:
    """The folder's manifest: output name -> SHA-256 of what was written (None for an entry
    of the earlier manifests, which listed names only)."""
    try:
        listed = json.loads((out_dir / OUTPUTS_MANIFEST).read_text())
    except (OSError, ValueError, TypeError):
        return {}
    if isinstance(listed, list):
        return {name: None for name in listed if isinstance(name, str)}
    if isinstance(listed, dict):
        return {name: digest for name, digest in listed.items()
                if isinstance(name, str) and (digest is None or isinstance(digest, str))}
    return {}


def _still_ours(path: Path, digest: str | None, for_input: bool = False) -> bool:
    """Whether `path` holds what this tool wrote there. An entry of an earlier manifest
    (no digest) still keeps its file out of the inputs, but never lets it be overwritten."""
    if digest is None:
        return for_input
    try:
        return path.is_file() and file_digest(path) == digest
    except OSError:
        return False


def _record_output(out_dir: Path, name: str, digest: str) -> dict[str, str | None]:
    """Add `name` and its digest to the folder's manifest and return it whole: read,
    merged and rewritten under a lock, so that two runs writing into one folder at once
    lose no entry."""
    lock = out_dir / (OUTPUTS_MANIFEST + ".lock")
    with open(lock, "a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        written = _written_before(out_dir) | {name: digest}
        write_json_atomic(out_dir / OUTPUTS_MANIFEST, dict(sorted(written.items())), indent=0)
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
    cleaned: set[Path] = set()
    for i, (path, relative) in enumerate(files, start=1):
        if progress and i > 1:
            progress(i - 1, len(files))
        target = out_dir / relative.with_name(f"{relative.name}{suffix}.{ext}")
        name = target.relative_to(out_dir).as_posix()
        prefix = f"[{i}/{len(files)}] {path}"
        if len(os.fsencode(target.name)) > NAME_MAX:  # before anything asks the file system
            problem = (f"{path}: its output name would be {len(os.fsencode(target.name))} bytes, over "
                       f"the file system's {NAME_MAX}; use a shorter --suffix, or rename the file")
            report.failed.append(problem)
            say(f"error: {problem}")
            continue
        if target.parent not in cleaned:  # what a killed run left half-written there
            remove_stale_temporaries(target.parent)
            cleaned.add(target.parent)
        ours_target = _still_ours(target, ours.get(name))
        if target.exists() and not overwrite and not target.is_dir() \
                and target.resolve() not in input_paths and target not in claimed:
            report.skipped.append(target)
            if not progress:
                say(f"{prefix}: {target} exists, skipped " + (
                    "(--overwrite to redo)" if ours_target else
                    "(it was not written by dcgan-sr, so it is left as it is)"))
            continue
        problem = _refusal(path, target, ours_target, input_paths, claimed, recursive,
                           listed_by_name_only=name in ours and ours[name] is None)
        if problem is None:
            def record(tmp, name=name):
                nonlocal ours
                ours = _record_output(out_dir, name, file_digest(tmp))
            try:
                line = _upscale_file(upscaler, path, target, ext, record)
            except UnreadableImage as error:
                problem = f"{path}: {error}"
            except OSError as error:
                if error.errno != errno.ENAMETOOLONG:
                    raise
                problem = (f"{path}: its output path {target} is longer than the file system "
                           "allows; use a shorter --suffix or --out, or rename the file")
            else:
                claimed[target] = path
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
             claimed: dict[Path, Path], recursive: bool, listed_by_name_only: bool = False) -> str | None:
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
        if listed_by_name_only:
            return (f"{path}: {target} was listed by an older dcgan-sr without its content, so "
                    "it cannot be told from a file of yours; delete it to have it written again")
        return (f"{path}: {target} exists and was not written by dcgan-sr (or was changed "
                "since); it is left as it is (move it, or choose another --out)")
    return None


def _upscale_file(upscaler, path: Path, target: Path, ext: str,
                  before_replace: Callable[[str], object] | None = None) -> str:
    """Upscale `path` into `target`; its line for the log: the sizes, then any notes after
    "; ". UnreadableImage when the file cannot be read or the output cannot be saved as `ext`."""
    image, note = read_image(path)
    icc_profile, icc_note = _icc_profile(path, "GRAY" if image.ndim == 2 else "RGB")
    note = "; ".join(n for n in (note, icc_note) if n) or None
    size = output_size(image.shape[1], image.shape[0], upscaler.outscale)
    if max(size) > MAX_SIDE.get(ext, max(size)):
        raise UnreadableImage(f"the output, {size[0]}x{size[1]}, is over {ext.upper()}'s "
                              f"{MAX_SIDE[ext]:,}-pixel limit; use --ext png, or a smaller --outscale")
    sr = upscaler(image)
    target.parent.mkdir(parents=True, exist_ok=True)
    notes = [n for n in (note, save_image(sr, target, ext, before_replace, icc_profile)) if n]
    sizes = f"({image.shape[1]}x{image.shape[0]} -> {sr.shape[1]}x{sr.shape[0]})"
    return sizes + ("; " + "; ".join(notes) if notes else "")


def _icc_profile(path: Path, colour_space: str) -> tuple[bytes | None, str | None]:
    """The ICC colour profile embedded in an image file, to keep with its output when it
    describes the output's colour space ("RGB" or "GRAY"); else None and a note saying why
    it was not kept (a CMYK profile, say, whose image was converted to RGB)."""
    from PIL import ImageCms

    try:
        with Image.open(path) as image:
            profile = image.info.get("icc_profile") or None
        if profile is None:
            return None, None
        space = ImageCms.ImageCmsProfile(io.BytesIO(profile)).profile.xcolor_space.strip()
    except (OSError, ValueError, ImageCms.PyCMSError):
        return None, "its ICC profile could not be read: not kept"
    if space != colour_space:
        return None, f"its {space} ICC profile was not kept (the output is {colour_space})"
    return profile, None


def _is_ours(path: Path, out_dir: Path, ours: set[str]) -> bool:
    """Whether `path` is an output this tool wrote into `out_dir` and left as it was (not an
    input to redo)."""
    try:
        name = path.resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        return False
    return name in ours and _still_ours(path, ours[name], for_input=True)
