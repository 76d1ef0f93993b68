"""`dcgan-sr export`: the generator as a SavedModel, an ONNX or a LiteRT file, for serving
without this package.

Every format takes what the Python API takes and returns what it returns: uint8 pixels,
N x H x W x 3 in (any N >= 1, H and W), N x 4H x 4W x 3 out, rounded as
`dcgan_sr.pixels.from_model` rounds. A batch of no images (N = 0) is not a call to make:
LiteRT and TensorFlow refuse it and ONNX Runtime's answer has the input's size
(tests/test_export.py says so); `Upscaler.batch` returns an empty batch for it itself.
Keras' own `Model.export` writes each format (tf2onnx for ONNX, TensorFlow's converter for
LiteRT); they are checked in their own runtimes by tests/test_export.py.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import keras
from keras import ops

from dcgan_sr.pixels import to_model, to_pixels
from dcgan_sr.errors import UserError
from dcgan_sr.runtime import installed
from dcgan_sr.vocabulary import EXPORT_FORMATS

SUFFIX = {"onnx": ".onnx", "litert": ".tflite"}
# What a format needs beyond TensorFlow (pip install ...).
NEEDS = {"onnx": ("tf2onnx", "onnx")}


def pixels_model(generator: keras.Model) -> keras.Model:
    """uint8 LR pixels in, uint8 4x pixels out, through `generator` (which works in [-1, 1])."""
    lr = keras.Input(shape=(None, None, 3), dtype="uint8", name="lr_pixels")
    pixels = ops.clip(ops.round(to_pixels(generator(to_model(lr)))), 0, 255)
    return keras.Model(lr, ops.cast(pixels, "uint8"), name="dcgan_sr_pixels")


def export(generator: keras.Model, fmt: str, out: str | Path) -> Path:
    """Write `generator` (as `pixels_model`) in format `fmt` to `out`; returns `out`."""
    if keras.backend.backend() != "tensorflow":
        raise UserError("export runs on the TensorFlow backend: unset KERAS_BACKEND (or set it "
                        "to tensorflow)")
    missing = [name for name in NEEDS.get(fmt, ()) if not installed(name)]
    if missing:
        raise UserError(f"--format {fmt} needs {', '.join(missing)}: pip install {' '.join(missing)}")
    out = Path(out)
    if out.exists():
        raise UserError(f"{out} exists; choose another --out (nothing was written)")
    if fmt in SUFFIX and out.suffix != SUFFIX[fmt]:
        raise UserError(f"--format {fmt} writes a {SUFFIX[fmt]} file: name --out so, e.g. "
                        f"{out.with_suffix(SUFFIX[fmt])}")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".partial-{out.name}")  # renamed to `out` only when complete
    if partial.is_dir():  # left by an export that was interrupted
        shutil.rmtree(partial)
    partial.unlink(missing_ok=True)
    signature = [keras.InputSpec(shape=(None, None, None, 3), dtype="uint8")]
    try:
        with warnings.catch_warnings():  # Keras' tf2onnx shim probes np.object (a FutureWarning)
            warnings.simplefilter("ignore", FutureWarning)
            pixels_model(generator).export(str(partial), format=EXPORT_FORMATS[fmt],
                                           input_signature=signature, verbose=False)
        partial.rename(out)
    except OSError as error:  # name the user's path, not the temporary one
        raise OSError(error.errno, error.strerror or str(error), str(out)) from error
    return out
