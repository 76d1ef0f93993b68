"""`Upscaler`: 4x face super-resolution from Python, for images in memory or on disk.

    from dcgan_sr import Upscaler

    up = Upscaler("real")               # a preset, a .weights.h5 (config beside) or a .keras file
    big = up(Image.open("face.jpg"))    # PIL in, PIL out; a path in, PIL out
    arr = up(pixels)                    # uint8 H x W x 3 (or x 4, or H x W grey) in, the same out
    faces = up.batch([a, b, c])         # many small faces; same-size RGB ones in one pass
    sr = up.batch(lr)                   # uint8 N x H x W x 3 in, N x 4H x 4W x 3 out

The kind of image that goes in comes out: greyscale stays greyscale (the network sees it
as RGB; the result's luma is returned), an alpha channel is upscaled separately with
bicubic and put back. `outscale` resizes the network's 4x output with Lanczos to any
final scale (2, 3, 8, ...), as Real-ESRGAN's --outscale does. Large images go in
overlapping tiles (`tile` input pixels), seamlessly (dcgan_sr.upscale).

`runtime` says what runs the network (dcgan_sr.inference): by default ONNX Runtime on a
CPU when it is installed (the fastest route measured by `make bench`), Keras on a GPU.
"""

from __future__ import annotations

import math
import numbers

from pathlib import Path

import keras
import numpy as np
from PIL import Image

from dcgan_sr import inference
from dcgan_sr.data import SCALE
from dcgan_sr.pixels import to_array
from dcgan_sr.presets import load_generator
from dcgan_sr.upscale import output_size, read_image, upscale_array
from dcgan_sr.vocabulary import DEFAULT_TILE, MAX_OUTSCALE, MIN_TILE


BATCH = 32  # faces per pass through the network in `batch`


class Upscaler:
    def __init__(self, weights: str | Path | keras.Model | None = None, tile: int = DEFAULT_TILE,
                 outscale: float = SCALE, runtime: str = "auto"):
        """`weights`: a preset name, a weights file, or a generator already built;
        `runtime`: auto, keras or onnxruntime (`self.runtime` says which one runs)."""
        if tile < MIN_TILE:
            raise ValueError(f"tile must be at least {MIN_TILE} input pixels")
        _check_outscale(outscale)
        self.generator = weights if isinstance(weights, keras.Model) else load_generator(weights)
        self.tile, self.outscale = tile, outscale
        self.runtime = inference.choose(runtime)
        self.route = inference.route(self.generator, self.runtime)

    def __call__(self, image, outscale: float | None = None):
        """The upscaled image, of the kind given: PIL -> PIL, array -> array, path -> PIL."""
        if outscale is not None:
            _check_outscale(outscale)
        if isinstance(image, (str, Path)):  # read as `dcgan-sr upscale` reads files
            return Image.fromarray(self._upscale(read_image(Path(image))[0], outscale))
        if isinstance(image, Image.Image):
            return Image.fromarray(self._upscale(to_array(image)[0], outscale))
        array = np.asarray(image)
        if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
            raise ValueError(f"expected a uint8 H x W, H x W x 3 or H x W x 4 array, got "
                             f"{array.dtype} {array.shape}")
        return self._upscale(array, outscale)

    def batch(self, images, outscale: float | None = None):
        """Each image upscaled: a list gives a list, a uint8 N x H x W x 3 array an array.
        RGB images of one size, up to `tile`, go through the network BATCH at a time."""
        if outscale is not None:
            _check_outscale(outscale)
        as_array = isinstance(images, np.ndarray) and images.ndim == 4
        arrays = images if as_array else [
            None if isinstance(i, (str, Path, Image.Image)) else np.asarray(i) for i in images]
        first = arrays[0] if len(arrays) else None
        if first is None or not all(a is not None and a.dtype == np.uint8 and a.ndim == 3 and
                                    a.shape[2] == 3 and a.shape == first.shape for a in arrays) \
                or max(first.shape[:2]) > self.tile:
            results = [self(image, outscale) for image in images]
            return np.stack(results) if as_array else results
        stacked = images if as_array else np.stack(arrays)
        sr = np.concatenate([self.route(stacked[i:i + BATCH]) for i in range(0, len(stacked), BATCH)])
        results = [self._rescale(x, outscale) for x in sr]
        return np.stack(results) if as_array else results

    def _upscale(self, array: np.ndarray, outscale: float | None) -> np.ndarray:
        if array.ndim == 2:  # greyscale: through the network as RGB, back to luma
            rgb = upscale_array(self.generator, np.repeat(array[..., None], 3, -1), self.tile,
                                route=self.route)
            return self._rescale(np.asarray(Image.fromarray(rgb).convert("L")), outscale)
        rgb = upscale_array(self.generator, np.ascontiguousarray(array[..., :3]), self.tile,
                            route=self.route)
        if array.shape[2] == 4:  # alpha: upscaled on its own, by bicubic
            alpha = Image.fromarray(array[..., 3]).resize(rgb.shape[1::-1], Image.BICUBIC)
            rgb = np.dstack([rgb, np.asarray(alpha)])
        return self._rescale(rgb, outscale)

    def _rescale(self, image: np.ndarray, outscale: float | None) -> np.ndarray:
        outscale = self.outscale if outscale is None else float(outscale)
        if outscale == SCALE:
            return image
        size = output_size(image.shape[1] // SCALE, image.shape[0] // SCALE, outscale)
        return np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))


def _check_outscale(outscale) -> float:
    """A number above 0 and at most MAX_OUTSCALE, or ValueError (in the constructor and on
    every call, before the network runs)."""
    if isinstance(outscale, bool) or not isinstance(outscale, numbers.Real) \
            or not math.isfinite(outscale) or not 0 < outscale <= MAX_OUTSCALE:
        raise ValueError(f"outscale must be a number above 0 and at most {MAX_OUTSCALE}, "
                         f"got {outscale!r}")
    return float(outscale)
