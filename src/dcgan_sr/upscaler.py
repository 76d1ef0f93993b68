"""`Upscaler`: 4x face super-resolution from Python, for images in memory or on disk.

    from dcgan_sr import Upscaler

    up = Upscaler("real")               # a preset, a .weights.h5 (config beside) or a .keras file
    big = up(Image.open("face.jpg"))    # PIL in, PIL out; a path in, PIL out
    arr = up(pixels)                    # uint8 H x W x 3 (or x 4, or H x W grey) in, the same out
    faces = up.batch([a, b, c])         # many small faces; same-size RGB ones in one pass

The kind of image that goes in comes out: greyscale stays greyscale (the network sees it
as RGB; the result's luma is returned), an alpha channel is upscaled separately with
bicubic and put back. `outscale` resizes the network's 4x output with Lanczos to any
final scale (2, 3, 8, ...), as Real-ESRGAN's --outscale does. Large images go in
overlapping tiles (`tile` input pixels), seamlessly (dcgan_sr.upscale).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from PIL import Image

from dcgan_sr.data import SCALE, from_model, to_model
from dcgan_sr.pixels import to_array
from dcgan_sr.presets import load_generator
from dcgan_sr.upscale import read_image, upscale_array


class Upscaler:
    def __init__(self, weights: str | Path | keras.Model | None = None, tile: int = 128,
                 outscale: float = SCALE):
        """`weights`: a preset name, a weights file, or a generator already built."""
        if tile < 16:
            raise ValueError("tile must be at least 16 input pixels")
        if not outscale > 0:
            raise ValueError("outscale must be a positive number")
        self.generator = weights if isinstance(weights, keras.Model) else load_generator(weights)
        self.tile, self.outscale = tile, outscale

    def __call__(self, image, outscale: float | None = None):
        """The upscaled image, of the kind given: PIL -> PIL, array -> array, path -> PIL."""
        if isinstance(image, (str, Path)):  # read as `dcgan-sr upscale` reads files
            return Image.fromarray(self._upscale(read_image(Path(image))[0], outscale))
        if isinstance(image, Image.Image):
            return Image.fromarray(self._upscale(to_array(image)[0], outscale))
        array = np.asarray(image)
        if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
            raise ValueError(f"expected a uint8 H x W, H x W x 3 or H x W x 4 array, got "
                             f"{array.dtype} {array.shape}")
        return self._upscale(array, outscale)

    def batch(self, images: list, outscale: float | None = None) -> list:
        """Each image upscaled; RGB images of one size go through the network together."""
        arrays = [np.asarray(i) if not isinstance(i, (str, Path, Image.Image)) else None for i in images]
        same = [a for a in arrays if a is not None]
        if (len(same) == len(images) and same and all(a.dtype == np.uint8 and a.ndim == 3 and
                                                      a.shape[2] == 3 and a.shape == same[0].shape
                                                      for a in same)
                and max(same[0].shape[:2]) <= self.tile):
            sr = from_model(self.generator(to_model(np.stack(same)), training=False))
            return [self._rescale(x, outscale) for x in sr]
        return [self(image, outscale) for image in images]

    def _upscale(self, array: np.ndarray, outscale: float | None) -> np.ndarray:
        if array.ndim == 2:  # greyscale: through the network as RGB, back to luma
            rgb = upscale_array(self.generator, np.repeat(array[..., None], 3, -1), self.tile)
            return self._rescale(np.asarray(Image.fromarray(rgb).convert("L")), outscale)
        rgb = upscale_array(self.generator, np.ascontiguousarray(array[..., :3]), self.tile)
        if array.shape[2] == 4:  # alpha: upscaled on its own, by bicubic
            alpha = Image.fromarray(array[..., 3]).resize(rgb.shape[1::-1], Image.BICUBIC)
            rgb = np.dstack([rgb, np.asarray(alpha)])
        return self._rescale(rgb, outscale)

    def _rescale(self, image: np.ndarray, outscale: float | None) -> np.ndarray:
        outscale = self.outscale if outscale is None else outscale
        if outscale == SCALE:
            return image
        h, w = image.shape[0] // SCALE, image.shape[1] // SCALE
        size = (max(1, round(w * outscale)), max(1, round(h * outscale)))
        return np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))
