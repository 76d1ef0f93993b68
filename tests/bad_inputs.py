"""The corpus of bad inputs (issue: reliability), written by the tests into a folder.

Each entry: file name -> (what `upscale` does, what evaluation and training do).
"""

import os
from pathlib import Path

import numpy as np
from PIL import Image

CONVERT, SKIP, REFUSE, OK = "convert", "skip", "refuse", "ok"

CASES = {
    "truncated.jpg": (REFUSE, SKIP),
    "empty.jpg": (REFUSE, SKIP),
    "text.jpg": (REFUSE, SKIP),
    "alpha.png": (CONVERT, OK),
    "grey.jpg": (OK, OK),
    "sixteen-bit.png": (CONVERT, OK),
    "palette.gif": (CONVERT, OK),
    "cmyk.jpg": (CONVERT, OK),
    "one-pixel.png": (OK, OK),
    "huge.png": (REFUSE, SKIP),
    "a face é ü.jpg": (OK, OK),
}


def write_corpus(folder: Path, face: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rgb = Image.open(face).convert("RGB")
    (folder / "truncated.jpg").write_bytes(face.read_bytes()[:2000])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image\n")
    rgb.convert("RGBA").save(folder / "alpha.png")
    rgb.convert("L").save(folder / "grey.jpg")
    Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257).save(folder / "sixteen-bit.png")
    rgb.convert("P").save(folder / "palette.gif")
    rgb.convert("CMYK").save(folder / "cmyk.jpg")
    rgb.resize((1, 1)).save(folder / "one-pixel.png")
    Image.new("RGB", (12_000, 12_000)).save(folder / "huge.png")  # 144 Mpixels, 0.4 MB on disk
    (folder / "a face é ü.jpg").write_bytes(face.read_bytes())
    os.symlink("loop.jpg", folder / "loop.jpg")  # a link to itself
    return folder
