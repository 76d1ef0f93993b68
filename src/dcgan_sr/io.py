"""Files written so that an interruption never leaves a half-written one behind."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Callable


def write_atomic(path: str | Path, write: Callable[[str], object]) -> Path:
    """Call `write(tmp_path)` then rename the temporary file onto `path`.

    The temporary name keeps `path`'s suffixes (Keras checks ``.weights.h5`` and
    ``.keras``), and lives in the same folder, so the rename is atomic.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        write(str(tmp))
        os.replace(tmp, path)
    except OSError as error:
        if error.filename is None:  # h5py and encoders say "No space left" without the file
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
