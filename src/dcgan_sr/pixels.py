"""Pixels in and out: an image file as a uint8 array, whatever it was stored as (one reader
and one conversion for training, evaluation and upscaling), and uint8 pixels as the
models' [-1, 1].

* EXIF orientation is applied (a portrait phone photo comes out upright);
* 16-bit greyscale is scaled by its true depth (65535 -> 255), 32-bit integer likewise;
  32-bit float is taken as [0, 1] when its maximum is at most 1, else as [0, 255];
* greyscale stays greyscale and transparency is kept (`to_array`, for upscaling), or
  both are made plain RGB, transparency put on white (`to_rgb`, for training); a colour
  key (PNG's tRNS in RGB, grey or 16-bit grey) becomes an alpha band like any other;
* 16 bits per channel are read as 8 (Pillow's RGB and RGBA hold 8), with a note;
* anything else (P, CMYK, LAB, HSV, YCbCr, 1, RGBX, ...) goes through Pillow's own
  conversion to RGB; only the modes of ALPHA_MODES (and images with a transparency
  colour) carry transparency.

Each returns a note for the user when it had to change something. `read` is the one way
a file becomes an image here: size checked from the header before decoding, against the
bound of its purpose (`read_photo`: to train or evaluate on; `read_image`: to upscale).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

from dcgan_sr.vocabulary import MAX_PHOTO_PIXELS, MAX_UPSCALE_PIXELS

WIDE_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I")
EXIF_TURNS = range(2, 9)  # EXIF orientations 2-8 turn or mirror; 1 is upright, others invalid
# The modes whose last band is transparency ("a": premultiplied). Not "LAB": its A is a colour.
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def _decoded(image: Image.Image) -> tuple[np.ndarray, list[str], str]:
    """(uint8 array: H x W grey, H x W x 4 with transparency, else H x W x 3; the notes on
    what was changed; the stored mode)."""
    notes = []
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        notes.append(f"animated: the first of {frames} frames used")
    orientation = image.getexif().get(0x0112, 1)  # the EXIF Orientation tag
    if orientation in EXIF_TURNS:
        image = ImageOps.exif_transpose(image)
        notes.append("turned upright by its EXIF orientation")
    mode = image.mode
    key = image.info.get("transparency") if mode in ("RGB", "L", *WIDE_GREY) else None
    if key is not None and not isinstance(key, bytes):
        array, more, mode = _decoded_without_key(image)
        raw = np.asarray(image)
        opaque = np.any(raw != np.asarray(key, raw.dtype), axis=-1) if raw.ndim == 3 else raw != key
        rgb = array if array.ndim == 3 else np.repeat(array[..., None], 3, -1)
        return np.dstack([rgb, np.where(opaque, 255, 0).astype(np.uint8)]), notes + more, mode
    if mode in ("RGB", "L"):
        array = np.asarray(image)
    elif mode in WIDE_GREY or mode == "F":
        grey = np.asarray(image, np.float64)
        if mode == "F":
            scale = 255.0 if grey.max(initial=0) <= 1.0 else 1.0
        else:
            scale = 255.0 / 65535.0 if mode != "I" or grey.max(initial=0) <= 65535 else 255.0 / grey.max()
        array = np.clip(np.round(grey * scale), 0, 255).astype(np.uint8)
        notes.append(f"{mode} greyscale scaled to 8 bits")
    elif mode in ALPHA_MODES or "transparency" in image.info:
        array = np.asarray((image.convert("LA") if mode == "La" else image).convert("RGBA"))
    else:
        array = np.asarray(image.convert("RGB"))
        notes.append(f"{mode} converted to RGB")
    return array, notes, mode


def _decoded_without_key(image: Image.Image) -> tuple[np.ndarray, list[str], str]:
    """`_decoded` of an image, its colour key ignored (the caller makes the alpha)."""
    info = dict(image.info)
    try:
        del image.info["transparency"]
        return _decoded(image)
    finally:
        image.info.update(info)


def bits_note(image: Image.Image) -> str | None:
    """A note when an opened, not yet loaded, image stores more than 8 bits per colour
    channel that Pillow will read as 8 (16-bit RGB and RGBA PNGs); 16-bit grey, which is
    read whole and scaled, gets its own note."""
    rawmodes = [tile.args if isinstance(tile.args, str) else "" for tile in getattr(image, "tile", [])]
    if image.mode in ("RGB", "RGBA") and any(";16" in rawmode for rawmode in rawmodes):
        return f"16-bit {image.mode} read as 8 bits per channel"
    return None


def to_array(image: Image.Image) -> tuple[np.ndarray, str | None]:
    """(uint8 array, note or None) of an opened image, in the kind the upscaler keeps:
    H x W for greyscale, H x W x 4 with transparency, else H x W x 3."""
    array, notes, mode = _decoded(image)
    if array.ndim == 3 and array.shape[2] == 4:
        notes.append(f"{mode} with transparency: alpha upscaled by bicubic")
    return array, "; ".join(notes) or None


def to_rgb(image: Image.Image) -> tuple[np.ndarray, str | None]:
    """(uint8 H x W x 3 array, note or None) of an opened image (for training and
    evaluation: greyscale made RGB, transparency put on white)."""
    array, notes, mode = _decoded(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, -1)
        notes.append("greyscale converted to RGB")
    elif array.shape[2] == 4:
        rgba = Image.fromarray(array, "RGBA")
        array = np.asarray(Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB"))
        notes.append(f"{mode} with transparency put on white")
    return array, "; ".join(notes) or None


class UnreadableImage(Exception):
    """A file that cannot be decoded as an image, or is larger than the caller takes."""


def read(path: str | Path, max_pixels: int, convert: Callable = to_array,
         purpose: str = "to upscale 4x") -> tuple[np.ndarray, str | None]:
    """`convert` (to_array or to_rgb) of the image file at `path`; UnreadableImage, saying
    why, when it is not an image or has more than `max_pixels` pixels (checked from its
    header, before anything is decoded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below
            image = Image.open(path)
        with image:
            if image.width * image.height > max_pixels:
                raise UnreadableImage(f"{image.width}x{image.height} is too large {purpose} "
                                      f"(limit {max_pixels:,} pixels); crop or shrink it first")
            wide = bits_note(image)  # before load(), which forgets how the file stored it
            image.load()
            array, note = convert(image)
            return array, "; ".join(n for n in (wide, note) if n) or None
    except UnreadableImage:
        raise
    except Image.DecompressionBombError:
        raise UnreadableImage(f"too large {purpose} (a decompression bomb?); crop or shrink it "
                              "first") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise UnreadableImage(f"not a readable image ({error})") from None


def read_photo(path: str | Path, max_pixels: int = MAX_PHOTO_PIXELS) -> np.ndarray | None:
    """A photo to train or evaluate on as uint8 RGB (`to_rgb`), or None when it is
    unreadable or larger than `max_pixels` (its caller names the files it skipped)."""
    try:
        return read(path, max_pixels, to_rgb, "to train on")[0]
    except UnreadableImage:
        return None


def read_image(path: str | Path) -> tuple[np.ndarray, str | None]:
    """An image to upscale as a uint8 array (grey, RGB or RGBA: `to_array`), and a note
    when it had to be converted; UnreadableImage says why not."""
    return read(path, MAX_UPSCALE_PIXELS, to_array, "to upscale 4x")


# --- pixels in the models ------------------------------------------------------------
# The models work in [-1, 1]: pixel / 127.5 - 1. `to_model` and `to_pixels` are the one
# place that scaling is written; they take NumPy or a backend tensor (inside a model or a
# train step) and give the same kind back.

PIXEL_HALF_RANGE = 127.5


def to_model(images):
    """Pixels [0, 255] (uint8 or float) -> float32 [-1, 1]."""
    if isinstance(images, (np.ndarray, np.generic, list, tuple)):
        images = np.asarray(images, np.float32)
    else:
        from keras import ops
        images = ops.cast(images, "float32")
    return images / PIXEL_HALF_RANGE - 1.0


def to_pixels(images):
    """[-1, 1] -> float pixels [0, 255], neither rounded nor clipped."""
    return (images + 1.0) * PIXEL_HALF_RANGE


def from_model(images) -> np.ndarray:
    """[-1, 1] (NumPy or an eager tensor) -> uint8 pixels [0, 255], rounded and clipped."""
    return np.clip(np.round(to_pixels(np.asarray(images, np.float32))), 0, 255).astype(np.uint8)
