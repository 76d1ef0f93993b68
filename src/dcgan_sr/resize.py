"""The protocol's LR resize in keras.ops: antialiased bicubic downscaling by an integer factor.

`tf.image.resize(..., "bicubic", antialias=True)` is the reference; XLA cannot compile
it (TensorFlow's ScaleAndTranslate op), and JAX's version is a different code path.
For an integer factor the same resampling is two strided 1-D convolutions (Keys cubic,
a = -0.5, stretched by the factor; 4 x factor taps), each output renormalised by the
weights of the taps inside the image, as TensorFlow does at the borders. It matches
TensorFlow to 1e-4 grey levels (tests/test_backends.py) and runs inside a compiled step
on either backend. `pairs_from_hr` makes the protocol's (LR, HR) training pairs with it.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from dcgan_sr.pixels import to_model
from dcgan_sr.vocabulary import SCALE


def _keys_cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1, (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1,
                    np.where(x < 2, a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a, 0.0))


def _weights(size: int, factor: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(kernel of 4*factor taps, each output's sum of in-image tap weights, padding)."""
    taps = 4 * factor
    kernel = _keys_cubic((np.arange(taps) - (taps - 1) / 2) / factor)
    pad = (taps - factor) // 2
    starts = factor * np.arange(size // factor) - pad
    inside = (starts[:, None] + np.arange(taps)[None, :] >= 0) & (
        starts[:, None] + np.arange(taps)[None, :] < size)
    return kernel.astype("float32"), (inside * kernel).sum(axis=1).astype("float32"), pad


def downscale_bicubic(images, factor: int = 4):
    """float N x H x W x C images (H, W multiples of `factor`) -> N x H/f x W/f x C."""
    _, height, width, channels = images.shape
    kernel, norm_h, pad = _weights(height, factor)
    _, norm_w, _ = _weights(width, factor)
    x = ops.reshape(ops.transpose(images, (0, 3, 1, 2)), (-1, height, width, 1))
    x = ops.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    x = ops.conv(x, ops.reshape(kernel, (-1, 1, 1, 1)), strides=(factor, 1))
    x = ops.conv(x, ops.reshape(kernel, (1, -1, 1, 1)), strides=(1, factor))
    x = x / (norm_h[:, None, None] * norm_w[None, :, None])
    x = ops.reshape(x, (-1, channels, height // factor, width // factor))
    return ops.transpose(x, (0, 2, 3, 1))


def _upsampling_taps(factor: int) -> np.ndarray:
    """(factor, 5) weights over input offsets -2..2 for each output phase: TensorFlow's
    bicubic upsampling (half-pixel centres, Keys cubic a = -0.5), before border rules."""
    taps = np.zeros((factor, 5))
    for phase in range(factor):
        x = (phase + 0.5) / factor - 0.5  # the output's position, in input pixels from its own
        for offset in range(int(np.floor(x)) - 1, int(np.floor(x)) + 3):
            taps[phase, offset + 2] += _keys_cubic(np.asarray(x - offset))
    return taps.astype("float32")


def upscale_bicubic_tf(images, factor: int = 4):
    """TensorFlow: `tf.image.resize(images, factor x size, "bicubic")` for an image batch of
    any (unknown) height and width, written with depthwise convolutions and depth_to_space,
    which LiteRT runs natively (its ResizeBicubic needs TensorFlow's Flex delegate). Matches
    TensorFlow to 1e-6 (tests/test_export.py), borders included: taps beyond the image count
    zero and the others are rescaled to sum to 1, as TensorFlow does."""
    import tensorflow as tf

    channels = images.shape[-1]
    taps = _upsampling_taps(factor).T  # (5, factor)

    def along(x, axis):  # each channel becomes `factor` phases, interpolated along `axis`
        kernel = np.tile(taps[:, None, None, :] if axis == 1 else taps[None, :, None, :],
                         (1, 1, x.shape[-1], 1))
        pads = [[0, 0], [2, 2] if axis == 1 else [0, 0], [2, 2] if axis == 2 else [0, 0], [0, 0]]

        def conv(u):
            return tf.nn.depthwise_conv2d(tf.pad(u, pads), kernel, [1, 1, 1, 1], "VALID")
        return conv(x) / conv(tf.ones_like(x))

    x = along(along(images, 2), 1)  # channels ordered (c, column phase, row phase)
    # depth_to_space wants them ordered (row phase, column phase, c).
    order = np.arange(channels * factor ** 2).reshape(channels, factor, factor).transpose(2, 1, 0)
    return tf.nn.depth_to_space(tf.gather(x, order.ravel(), axis=-1), factor)


def pairs_from_hr(hr_uint8):
    """uint8 HR batch -> (lr, hr) in [-1, 1]; LR by the protocol (antialiased bicubic,
    rounded to uint8), computed on the device by whichever backend runs the step."""
    hr = ops.cast(hr_uint8, "float32")
    lr = ops.clip(ops.round(downscale_bicubic(hr, SCALE)), 0.0, 255.0)
    return to_model(lr), to_model(hr)
