"""Files written so that an interruption never leaves a half-written one behind."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Callable

TEMPORARY_PREFIX = ".tmp-"
NAME_MAX = 255  # bytes in one file name, on every common file system
_TEMPORARY = re.compile(re.escape(TEMPORARY_PREFIX) + r"(\d+)-")


def temporary_path(path: Path) -> Path:
    """`path`'s temporary sibling, `.tmp-PID-<name>`: it keeps the name's suffixes (Keras
    checks ``.weights.h5`` and ``.keras``); a name too long for that gets a digest of
    itself instead, so the temporary name stays within NAME_MAX."""
    name = f"{TEMPORARY_PREFIX}{os.getpid()}-{path.name}"
    if len(os.fsencode(name)) > NAME_MAX:  # as the file system counts it, undecodable bytes too
        suffixes = "".join(path.suffixes[-2:])
        suffixes = suffixes if len(os.fsencode(suffixes)) <= 32 else path.suffix[:32]
        digest = hashlib.sha256(os.fsencode(path.name)).hexdigest()[:16]
        name = f"{TEMPORARY_PREFIX}{os.getpid()}-{digest}{suffixes}"
    return path.with_name(name)


def write_atomic(path: str | Path, write: Callable[[str], object],
                 before_replace: Callable[[str], object] | None = None) -> Path:
    """Call `write(tmp_path)`, then `before_replace(tmp_path)` if given (e.g. to record
    the file's digest), then rename the temporary file onto `path`.

    The temporary file (`temporary_path`) lives in the same folder, so the rename is
    atomic; an OSError names `path`, never the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        write(str(tmp))
        if before_replace is not None:
            before_replace(str(tmp))
        os.replace(tmp, path)
    except OSError as error:
        # h5py and encoders say "No space left" without the file; others name the temporary
        if error.filename is None or str(error.filename) == str(tmp):
            raise OSError(error.errno, error.strerror or str(error), str(path)) from error
        raise
    finally:
        with contextlib.suppress(OSError):  # gone already, or the folder refuses: say it once
            tmp.unlink(missing_ok=True)
    return path


def write_json_atomic(path: str | Path, value, indent: int | None = 2) -> Path:
    """`value` as JSON text (a final newline) at `path`, atomically (`write_atomic`)."""
    text = json.dumps(value, indent=indent) + "\n"
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text))


def process_alive(pid: int) -> bool:
    """Whether a process with this PID runs (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that `write_atomic` left in `folder` when its process was
    killed mid-write (a `.tmp-PID-*` file whose process is gone); returns them."""
    removed = []
    with contextlib.suppress(OSError):
        for path in Path(folder).glob(TEMPORARY_PREFIX + "*"):
            match = _TEMPORARY.match(path.name)
            if match and not process_alive(int(match[1])) and path.is_file() and not path.is_symlink():
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(path)
    return removed


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, in hex."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
