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
final scale (2, 3, 8, ...), as Real-ESRGAN's --outscale does.

**Tiles.** Large images go in overlapping tiles of `tile` input pixels, so memory stays
bounded. The generator is fully convolutional and, in inference, per-pixel (BatchNorm uses
its moving statistics), so an output pixel depends only on input pixels within the
generator's receptive field. Each tile is given that many extra input pixels on every
side that is not an image border (`receptive_margin`, computed once per generator), and
that margin is cut from its output: the tiles fit together without seams and equal the
whole-image output.

**Routes.** `runtime` says what runs the network. A route is a function from a uint8 batch
N x H x W x 3 to its uint8 4x batch, rounded as `pixels.from_model` rounds. Both routes
compute the same network; ONNX Runtime runs it faster on a CPU (1.23 times Keras on
TensorFlow in the README's `make bench` run), and they differ by at most one grey level,
on under 0.1 % of pixels (tests/test_upscaler.py).

    auto          Keras when the Keras backend sees a GPU; otherwise ONNX Runtime when
                  it is installed (with tf2onnx, under the TensorFlow backend); else Keras
    keras         the generator itself, on whatever device the Keras backend uses
    onnxruntime   the generator exported to ONNX (`dcgan-sr export --format onnx`), on the CPU

Files and folders in, files out (the `dcgan-sr upscale` command) is `dcgan_sr.upscale`.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import tempfile
from pathlib import Path
from typing import Callable

import keras
import numpy as np
from PIL import Image

from dcgan_sr.errors import UserError
from dcgan_sr.models import PixelShuffle
from dcgan_sr.pixels import from_model, read_image, to_array, to_model
from dcgan_sr.presets import load_generator
from dcgan_sr.runtime import installed
from dcgan_sr.speed_layers import NearestUpConv2D
from dcgan_sr.vocabulary import DEFAULT_TILE, MAX_OUTSCALE, MIN_TILE, RUNTIMES, SCALE


# --- routes: what runs the network ------------------------------------------------------

Route = Callable[[np.ndarray], np.ndarray]


def keras_route(generator: keras.Model) -> Route:
    return lambda lr: from_model(generator(to_model(lr), training=False))


def onnx_available() -> bool:
    return keras.backend.backend() == "tensorflow" and installed("onnxruntime", "tf2onnx", "onnx")


_sessions: dict[str, object] = {}  # one ONNX conversion per generator and weights, per process


def onnx_route(generator: keras.Model) -> Route:
    """`generator` exported to ONNX (about 2 s, once per process and weights), run by
    ONNX Runtime on the CPU."""
    import onnxruntime

    from dcgan_sr.export import export

    key = _fingerprint(generator)
    if key not in _sessions:
        with tempfile.TemporaryDirectory() as tmp:
            model = export(generator, "onnx", Path(tmp) / "generator.onnx").read_bytes()
        _sessions[key] = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    session = _sessions[key]
    name = session.get_inputs()[0].name
    return lambda lr: session.run(None, {name: np.ascontiguousarray(lr, np.uint8)})[0]


def choose_runtime(runtime: str) -> str:
    """The route `runtime` ("auto", "keras" or "onnxruntime") names here."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if runtime == "onnxruntime" and not onnx_available():
        raise UserError("the onnxruntime route needs the TensorFlow backend and onnxruntime, "
                        "tf2onnx and onnx: pip install onnxruntime tf2onnx onnx (or use keras)")
    if runtime == "auto":
        from dcgan_sr.runtime import gpus
        return "keras" if gpus() or not onnx_available() else "onnxruntime"
    return runtime


def route(generator: keras.Model, runtime: str) -> Route:
    """The uint8-to-uint8 function of `generator` by route `runtime` (already chosen)."""
    return onnx_route(generator) if runtime == "onnxruntime" else keras_route(generator)


def _fingerprint(generator: keras.Model) -> str:
    digest = hashlib.sha256(generator.to_json().encode())
    for weight in generator.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()


# --- tiles ------------------------------------------------------------------------------

def receptive_margin(generator: keras.Model) -> int:
    """Input pixels an output pixel can see on each side: the tiling margin, exact for the
    generator's chain of convs and 2x upsamplings (UpSampling2D, PixelShuffle, or the one
    inside a NearestUpConv2D).

    Followed back from each output pixel of one 4x4 block (each phase of the grid) to the
    input, a conv widens the span by its half-width and an upsampling by s maps pixel p to
    p // s; the margin is the widest reach past the block's own input pixel. The bicubic
    skip reaches 2 pixels, less than any preset's convs."""
    chain = []
    for layer in generator.layers:
        if isinstance(layer, keras.layers.UpSampling2D):
            chain.append(("up", layer.size[0]))
        elif isinstance(layer, PixelShuffle):
            chain.append(("up", layer.scale))
        elif isinstance(layer, keras.layers.Conv2D):
            if isinstance(layer, NearestUpConv2D):  # a nearest x2 inside, before its conv
                chain.append(("up", 2))
            chain.append(("conv", (layer.kernel_size[0] - 1) // 2 * layer.dilation_rate[0]))
    margin = 2
    for phase in range(math.prod(n for kind, n in chain if kind == "up")):
        low = high = phase
        for kind, n in reversed(chain):
            low, high = (low - n, high + n) if kind == "conv" else (low // n, high // n)
        margin = max(margin, -low, high)
    return margin


def upscale_array(generator: keras.Model, image: np.ndarray, tile: int = DEFAULT_TILE,
                  margin: int | None = None, route: Route | None = None) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (4H, 4W, 3), in tiles of `tile` x `tile` input pixels, each
    given `margin` more on every inner side (default: `receptive_margin`) and sent through
    `route` (default: the generator in Keras)."""
    margin = receptive_margin(generator) if margin is None else margin
    route = route or keras_route(generator)
    h, w, _ = image.shape
    out = np.empty((h * SCALE, w * SCALE, 3), np.uint8)
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            y0, x0 = max(top - margin, 0), max(left - margin, 0)
            y1, x1 = min(bottom + margin, h), min(right + margin, w)
            sr = route(image[None, y0:y1, x0:x1])[0]
            out[top * SCALE:bottom * SCALE, left * SCALE:right * SCALE] = sr[
                (top - y0) * SCALE:(bottom - y0) * SCALE, (left - x0) * SCALE:(right - x0) * SCALE]
    return out


def output_size(width: int, height: int, outscale: float) -> tuple[int, int]:
    """The size `Upscaler` gives a width x height image at `outscale`."""
    if outscale == SCALE:
        return SCALE * width, SCALE * height
    return max(1, round(width * outscale)), max(1, round(height * outscale))


# --- the Upscaler ---------------------------------------------------------------------

BATCH = 32  # faces per pass through the network in `batch`


class Upscaler:
    def __init__(self, weights: str | Path | keras.Model | None = None, tile: int = DEFAULT_TILE,
                 outscale: float = SCALE, runtime: str = "auto"):
        """`weights`: a preset name, a weights file, or a generator already built;
        `runtime`: auto, keras or onnxruntime (`self.runtime` says which one runs)."""
        if isinstance(tile, bool) or not isinstance(tile, numbers.Integral) or tile < MIN_TILE:
            raise ValueError(f"tile must be a whole number of input pixels, at least {MIN_TILE}; "
                             f"got {tile!r}")
        _check_outscale(outscale)
        self.generator = weights if isinstance(weights, keras.Model) else load_generator(weights)
        self.tile, self.outscale = int(tile), outscale
        self.runtime = choose_runtime(runtime)
        self.route = route(self.generator, self.runtime)
        self.margin = receptive_margin(self.generator)

    def __getstate__(self) -> dict:
        """Pickled without its route (a compiled function), which is made again on loading."""
        return {k: v for k, v in self.__dict__.items() if k != "route"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.route = route(self.generator, self.runtime)

    def __call__(self, image, outscale: float | None = None):
        """The upscaled image, of the kind given: PIL -> PIL, array -> array, path -> PIL."""
        if outscale is not None:
            _check_outscale(outscale)
        if isinstance(image, (str, Path)):  # read as `dcgan-sr upscale` reads files
            return Image.fromarray(self._upscale(read_image(image)[0], outscale))
        if isinstance(image, Image.Image):
            return Image.fromarray(self._upscale(to_array(image)[0], outscale))
        array = np.asarray(image)
        if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
            raise ValueError(f"expected a uint8 H x W, H x W x 3 or H x W x 4 array, got "
                             f"{array.dtype} {array.shape}")
        if not array.size:
            raise ValueError(f"an empty image ({array.shape[0]} x {array.shape[1]} pixels): "
                             "nothing to upscale")
        return self._upscale(array, outscale)

    def batch(self, images, outscale: float | None = None):
        """Each image upscaled: a list gives a list, a uint8 N x H x W x 3 array an array.
        RGB images of one size, up to `tile`, go through the network BATCH at a time."""
        if outscale is not None:
            _check_outscale(outscale)
        as_array = isinstance(images, np.ndarray) and images.ndim == 4
        if as_array and not len(images):  # no faces: none back, in the shape they would have
            w, h = output_size(images.shape[2], images.shape[1], self.outscale if outscale is None
                               else outscale)
            return np.zeros((0, h, w, images.shape[3]), np.uint8)
        if not as_array:
            images = list(images)  # any iterable, read once
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
                                self.margin, self.route)
            return self._rescale(np.asarray(Image.fromarray(rgb).convert("L")), outscale)
        rgb = upscale_array(self.generator, np.ascontiguousarray(array[..., :3]), self.tile,
                            self.margin, self.route)
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
