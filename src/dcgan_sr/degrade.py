"""How a low-resolution face is made from a photo: the protocol, named real-world
degradations, and the random `realistic` mix for training.

Everything starts from the photo's *window*: its central square (for CelebA's 178x218
aligned images, all 178 columns and rows 20-197), uint8 RGB.

* HR, the target: the window resized to 128x128 with antialiased bicubic (Pillow).
* LR, the 32x32 input, by one named degradation (deterministic for a seed):

  ==============  ==========================================================================
  protocol        HR resized to 32x32, antialiased bicubic: the benchmark, what mse/gan learn
  bilinear_noaa   the window straight to 32x32, bilinear *without* antialiasing (how the seed
                  made its LR: TensorFlow's default resize, half-pixel centres)
  nearest         the window straight to 32x32, nearest neighbour (Pillow's: the source
                  pixel under each output pixel's centre)
  nearest_cv      the same the OpenCV way (cv2.INTER_NEAREST: the source pixel under each
                  output pixel's top-left corner, half a pixel from Pillow's)
  jpeg            protocol, then JPEG at quality 40
  blur_noise      HR blurred (Gaussian, sigma 1 HR pixel), protocol, then Gaussian noise of
                  sigma 4 grey levels per channel, rounded
  misaligned      the window zoomed in by up to 20 % and its centre moved by up to 12 % of
                  the face's side each way; HR and LR from that window by the protocol
  naive_jpeg      bilinear_noaa, then JPEG at quality 50
  ==============  ==========================================================================

* `realistic`: for training, a random second-order mix in the spirit of BSRGAN (Zhang et
  al., 2021) and Real-ESRGAN (Wang et al., 2021): blur (isotropic or anisotropic
  Gaussian), a downscaling kernel drawn from antialiased bicubic, bilinear without
  antialiasing, area, nearest and Lanczos, Gaussian or Poisson-like noise (colour or
  grey), JPEG, and optionally a second round of noise and JPEG. Thumbnails in the wild are
  made by Pillow, OpenCV, browsers and phones, whose resizers put their sample points at
  different phases: `nearest_cv` among the kernels samples as OpenCV's INTER_NEAREST does,
  and every downscale moves its sampling grid by a random sub-pixel offset (up to
  `mix_shift` LR pixels each way). Its ranges are Config
  fields (`mix_*`), saved with every run. With a small probability an image gets the
  protocol alone, so the benchmark stays in the training distribution.

All randomness comes from a NumPy Generator; `pairs` seeds one per image from
(seed, index), so a named degradation of a folder is the same on every run.
"""

from __future__ import annotations

import dataclasses
import io
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
from PIL import Image

from dcgan_sr.config import Config
from dcgan_sr.vocabulary import HR_SIZE, LR_SIZE

# The realistic mix keeps a window at its own resolution up to this side (CelebA: 178).
MAX_WINDOW = 256
# Parameters of the named degradations, as the README states them.
JPEG_QUALITY = 40
NAIVE_JPEG_QUALITY = 50
BLUR_SIGMA = 1.0
NOISE_SIGMA = 4.0
MISALIGN_SHIFT = 0.12
MISALIGN_ZOOM = 0.20
_PILLOW_FILTERS = {"bicubic": Image.BICUBIC, "area": Image.BOX, "lanczos": Image.LANCZOS,
                   "nearest": Image.NEAREST}


# --- windows and resizing ------------------------------------------------------------

def central_square(photo: np.ndarray) -> np.ndarray:
    """The central square of an HxWxC photo."""
    h, w = photo.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return photo[top:top + side, left:left + side]


def resize(image: np.ndarray, size: int, kernel: str = "bicubic",
           shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """uint8 HxWx3 -> uint8 size x size x 3. Pillow's filters antialias when they shrink
    (bicubic is Keys' a = -0.5, as TensorFlow's antialiased bicubic); `bilinear_noaa`
    samples like TensorFlow's `tf.image.resize(..., "bilinear")` without antialiasing;
    `nearest_cv` like OpenCV's INTER_NEAREST (see `nearest_opencv`). `shift` (dy, dx) moves
    the sampling grid by that many output pixels (edges replicated)."""
    dy, dx = shift
    if kernel == "nearest_cv":
        kernel, dy, dx = "nearest", dy - 0.5, dx - 0.5
    if kernel == "bilinear_noaa":
        return _bilinear_no_antialias(image, size, (dy, dx))
    pil_filter = _PILLOW_FILTERS[kernel]
    if dy == 0 and dx == 0:
        return np.asarray(Image.fromarray(image).resize((size, size), pil_filter))
    h, w = image.shape[:2]
    pad = int(np.ceil(max(h, w) / size * (max(abs(dy), abs(dx)) + 1)))  # box inside the image
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    top, left = pad + dy * h / size, pad + dx * w / size
    box = (left, top, left + w, top + h)
    return np.asarray(Image.fromarray(padded).resize((size, size), pil_filter, box=box))


def _bilinear_weights(src: int, dst: int, shift: float = 0.0) -> np.ndarray:
    """dst x src interpolation matrix, half-pixel centres moved by `shift` output pixels,
    no antialiasing."""
    centres = (np.arange(dst) + 0.5 + shift) * src / dst - 0.5
    centres = np.clip(centres, 0, src - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, src - 1)
    frac = centres - low
    weights = np.zeros((dst, src))
    weights[np.arange(dst), low] += 1 - frac
    weights[np.arange(dst), high] += frac
    return weights


def _bilinear_no_antialias(image: np.ndarray, size: int,
                           shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    rows = _bilinear_weights(image.shape[0], size, shift[0])
    cols = _bilinear_weights(image.shape[1], size, shift[1])
    out = np.tensordot(rows, image.astype(np.float64), axes=(1, 0))  # size x W x C
    out = np.tensordot(cols, out, axes=(1, 1)).transpose(1, 0, 2)  # size x size x C
    return _to_uint8(out)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def hr_from_window(window: np.ndarray) -> np.ndarray:
    return resize(window, HR_SIZE)


def lr_from_hr(hr: np.ndarray) -> np.ndarray:
    """The protocol's LR: antialiased bicubic."""
    return resize(hr, LR_SIZE)


# --- the pieces of a degradation -------------------------------------------------------

def gaussian_kernel(sigma_x: float, sigma_y: float | None = None, angle: float = 0.0,
                    size: int = 21) -> np.ndarray:
    """A normalised size x size Gaussian, anisotropic when sigma_y differs, rotated by `angle`."""
    sigma_y = sigma_x if sigma_y is None else sigma_y
    axis = np.arange(size) - size // 2
    xx, yy = np.meshgrid(axis, axis)
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * xx + s * yy, -s * xx + c * yy
    kernel = np.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return kernel / kernel.sum()


def blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 convolved with `kernel` (edges reflected), by FFT; rounded to uint8."""
    pad = kernel.shape[0] // 2
    h, w = image.shape[:2]
    padded = np.pad(image.astype(np.float32), ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    shape = padded.shape[:2]
    spectrum = np.fft.rfft2(padded, axes=(0, 1)) * np.fft.rfft2(kernel, s=shape)[..., None]
    out = np.fft.irfft2(spectrum, s=shape, axes=(0, 1))
    return _to_uint8(out[2 * pad:2 * pad + h, 2 * pad:2 * pad + w])


def add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator, grey: bool = False,
              poisson: bool = False) -> np.ndarray:
    """Gaussian noise of `sigma` grey levels; Poisson-like: sigma scaled by sqrt(I / 128)
    (shot noise, `sigma` at mid-grey); grey: the same noise in every channel."""
    shape = image.shape[:2] + ((1,) if grey else (image.shape[2],))
    noise = rng.standard_normal(shape) * sigma
    x = image.astype(np.float64)
    if poisson:
        noise = noise * np.sqrt(np.mean(x, axis=2, keepdims=True) / 128.0 if grey else x / 128.0)
    return _to_uint8(x + noise)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Saved as JPEG at `quality` (Pillow, 4:2:0 chroma) and read back."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def nearest_opencv(image: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize to size x size as OpenCV's INTER_NEAREST does it: output
    pixel i takes source pixel floor(i * scale), with no half-pixel centring."""
    rows = np.minimum((np.arange(size) * (image.shape[0] / size)).astype(int), image.shape[0] - 1)
    cols = np.minimum((np.arange(size) * (image.shape[1] / size)).astype(int), image.shape[1] - 1)
    return image[rows][:, cols]


def misaligned_window(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A square window zoomed in by up to MISALIGN_ZOOM and moved by up to MISALIGN_SHIFT
    of the face's side each way, kept inside the photo."""
    h, w = photo.shape[:2]
    face = min(h, w)
    side = max(LR_SIZE, int(round(face * (1 - rng.uniform(0, MISALIGN_ZOOM)))))
    cy = h / 2 + rng.uniform(-MISALIGN_SHIFT, MISALIGN_SHIFT) * face
    cx = w / 2 + rng.uniform(-MISALIGN_SHIFT, MISALIGN_SHIFT) * face
    top = int(np.clip(round(cy - side / 2), 0, h - side))
    left = int(np.clip(round(cx - side / 2), 0, w - side))
    return photo[top:top + side, left:left + side]


# --- named degradations ---------------------------------------------------------------

# The named degradations: name -> LR from (window, HR, rng), as the table above says. Each
# starts from the photo's central square, except misaligned, which moves it (`named`).
NAMED: dict[str, Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]] = {
    "protocol": lambda window, hr, rng: lr_from_hr(hr),
    "bilinear_noaa": lambda window, hr, rng: resize(window, LR_SIZE, "bilinear_noaa"),
    "nearest": lambda window, hr, rng: resize(window, LR_SIZE, "nearest"),
    "nearest_cv": lambda window, hr, rng: nearest_opencv(window, LR_SIZE),
    "jpeg": lambda window, hr, rng: jpeg(lr_from_hr(hr), JPEG_QUALITY),
    "blur_noise": lambda window, hr, rng: add_noise(
        lr_from_hr(blur(hr, gaussian_kernel(BLUR_SIGMA))), NOISE_SIGMA, rng),
    "misaligned": lambda window, hr, rng: lr_from_hr(hr),
    "naive_jpeg": lambda window, hr, rng: jpeg(resize(window, LR_SIZE, "bilinear_noaa"),
                                               NAIVE_JPEG_QUALITY),
}


def named(photo: np.ndarray, name: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """uint8 photo (HxWx3) -> (LR 32x32x3, HR 128x128x3) by the degradation `name`."""
    if name not in NAMED:
        raise ValueError(f"unknown degradation {name!r}; known: {', '.join(NAMED)}")
    window = misaligned_window(photo, rng) if name == "misaligned" else central_square(photo)
    hr = hr_from_window(window)
    return NAMED[name](window, hr, rng), hr


# --- the realistic mix -----------------------------------------------------------------

# The ranges of the training mix: Config's `mix_*` fields without their prefix, with the
# same types and defaults (written once, in dcgan_sr.config).
RealisticMix = dataclasses.make_dataclass(
    "RealisticMix",
    [(f.name.removeprefix("mix_"), f.type, dataclasses.field(default=f.default))
     for f in dataclasses.fields(Config) if f.name.startswith("mix_")],
    frozen=True,
    namespace={"from_config": classmethod(lambda cls, config: cls(**{
        f.name: getattr(config, f"mix_{f.name}") for f in dataclasses.fields(cls)}))})


def realistic(window: np.ndarray, mix: RealisticMix,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """uint8 square window -> (LR, HR) by one random draw of the mix."""
    hr = hr_from_window(window)
    if rng.random() < mix.protocol_prob:
        return lr_from_hr(hr), hr
    image = window
    if rng.random() < mix.blur_prob:
        sigma_x = rng.uniform(*mix.blur_sigma)
        sigma_y = rng.uniform(*mix.blur_sigma) if rng.random() < mix.anisotropic_prob else sigma_x
        image = blur(image, gaussian_kernel(sigma_x, sigma_y, rng.uniform(0, np.pi)))
    kernel = mix.kernels[rng.integers(len(mix.kernels))]
    lr = resize(image, LR_SIZE, kernel, tuple(rng.uniform(-mix.shift, mix.shift, 2)))
    for order in range(2):
        if order == 1 and rng.random() >= mix.second_order_prob:
            break
        if rng.random() < mix.noise_prob:
            lr = add_noise(lr, rng.uniform(*mix.noise_sigma), rng,
                           grey=rng.random() < mix.grey_noise_prob,
                           poisson=rng.random() < mix.poisson_prob)
        if rng.random() < mix.jpeg_prob:
            lr = jpeg(lr, round(rng.uniform(*mix.jpeg_quality)))
    return lr, hr


# --- many images -------------------------------------------------------------------------

def pairs(images, degradation: str | RealisticMix, seed: int = 0,
          first_index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(LR, HR) uint8 batches of photos (a named degradation) or of square windows (a
    RealisticMix); image i draws from a Generator seeded by (seed, first_index + i)."""
    def one(i_image):
        i, image = i_image
        rng = np.random.default_rng([seed, first_index + i])
        if isinstance(degradation, RealisticMix):
            return realistic(np.asarray(image), degradation, rng)
        return named(np.asarray(image), degradation, rng)

    with ThreadPoolExecutor(2) as pool:
        made = list(pool.map(one, enumerate(images)))
    return np.stack([lr for lr, _ in made]), np.stack([hr for _, hr in made])


def training_window(photo: np.ndarray) -> np.ndarray:
    """The central square, shrunk (antialiased bicubic) to MAX_WINDOW when larger."""
    window = central_square(photo)
    return window if window.shape[0] <= MAX_WINDOW else resize(window, MAX_WINDOW)
