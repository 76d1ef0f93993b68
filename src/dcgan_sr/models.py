"""The seed's generator and discriminator, layer by layer, in backend-neutral Keras: its
own layers (Conv2D, BatchNormalization, UpSampling2D, LeakyReLU, Add) and, for the
presets' options, this module's PixelShuffle, ICNR and BicubicUpsampling.

Differences from the seed's notebook, on purpose: the LeakyReLUs its README
describes but its code never added (after the first upsampling conv and after
each strided discriminator conv) are put back. Options, off by default, go
beyond the seed: `gen_bicubic_skip` adds a bicubic upsampling of the input to the
output; `gen_batchnorm=False` drops BatchNorm from the generator;
`gen_residual_scale` scales each residual branch before its sum (EDSR);
`upsample="pixelshuffle"` replaces nearest upsampling + conv by a conv to 4x the
channels + depth_to_space, initialised with ICNR (Aitken et al., 2017) so that it
starts as nearest upsampling, without checkerboard artefacts.

Training on TensorFlow swaps three of these layers for faster ones with the same weights
(`dcgan_sr.speed_layers.for_training`); what is built here is what is saved and loaded.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from dcgan_sr.config import Config
from dcgan_sr.resize import upscale_bicubic_tf


@keras.saving.register_keras_serializable(package="dcgan_sr")
class ICNR(keras.initializers.Initializer):
    """Initialises a conv feeding depth_to_space(r) so that all r*r sub-pixels start equal:
    the kernel of a conv to `filters / r**2` channels, tiled r*r times (depth_to_space's
    channel order is sub-pixel-major)."""

    def __init__(self, scale: int = 2, initializer="glorot_uniform"):
        self.scale = scale
        self.initializer = keras.initializers.get(initializer)

    def __call__(self, shape, dtype=None):
        *kernel, channels_in, channels_out = shape
        base = self.initializer((*kernel, channels_in, channels_out // self.scale ** 2), dtype)
        return ops.tile(base, (1, 1, 1, self.scale ** 2))

    def get_config(self):
        return {"scale": self.scale,
                "initializer": keras.initializers.serialize(self.initializer)}


@keras.saving.register_keras_serializable(package="dcgan_sr")
class PixelShuffle(layers.Layer):
    """(H, W, C*r*r) -> (H*r, W*r, C): keras.ops.depth_to_space as a layer."""

    def __init__(self, scale: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, x):
        return ops.depth_to_space(x, self.scale)

    def compute_output_shape(self, shape):
        n, h, w, c = shape
        grow = lambda d: None if d is None else d * self.scale
        return (n, grow(h), grow(w), c // self.scale ** 2)

    def get_config(self):
        return super().get_config() | {"scale": self.scale}


def pixel_shuffle_x2(x, filters: int, name: str):
    """A 3x3 conv to 4x `filters` channels (ICNR-initialised), then depth_to_space(2)."""
    x = layers.Conv2D(filters * 4, 3, padding="same", kernel_initializer=ICNR(2),
                      name=f"{name}_conv")(x)
    return PixelShuffle(2, name=f"{name}_shuffle")(x)


def upsample_x2(x, filters: int, kind: str, name: str):
    """x2 upsampling followed by a 3x3 conv to `filters` channels (before BN/LReLU)."""
    if kind == "pixelshuffle":
        return pixel_shuffle_x2(x, filters, name)
    x = layers.UpSampling2D(2, name=name)(x)
    return layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv")(x)


def batch_norm(**kwargs) -> layers.BatchNormalization:
    """BatchNormalization, synchronised across replicas when built under a tf.distribute
    strategy (then each replica normalises by the global batch, as one device would)."""
    synchronized = False
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        synchronized = tf.distribute.has_strategy()
    return layers.BatchNormalization(synchronized=synchronized, **kwargs)


def _bn_lrelu(x, slope: float, batchnorm: bool = True):
    if batchnorm:
        x = batch_norm()(x)
    return layers.LeakyReLU(negative_slope=slope)(x)


def residual_unit(x, filters: int, slope: float, name: str, batchnorm: bool = True,
                  scale: float = 1.0):
    """conv3x3-BN-LReLU-conv3x3-BN (times `scale`), plus a 1x1 conv + BN projection skip;
    LReLU after the sum."""
    def bn(y, suffix):
        return batch_norm(name=f"{name}_{suffix}")(y) if batchnorm else y

    skip = bn(layers.Conv2D(filters, 1, padding="same", name=f"{name}_skip_conv")(x),
              "skip_bn")
    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv1")(x)
    y = _bn_lrelu(y, slope, batchnorm)
    y = bn(layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(y), "bn2")
    if scale != 1.0:
        y = layers.Rescaling(scale, name=f"{name}_scale")(y)
    y = layers.Add(name=f"{name}_add")([y, skip])
    return layers.LeakyReLU(negative_slope=slope, name=f"{name}_out")(y)


@keras.saving.register_keras_serializable(package="dcgan_sr")
class BicubicUpsampling(layers.Layer):
    """`factor` x bicubic upsampling (no antialiasing), as UpSampling2D(interpolation=
    "bicubic") computes it, and exportable with unknown height and width: Keras' resize
    checks the target size in Python, which a graph traced for export cannot answer, so
    that graph computes the same resampling with convolutions (dcgan_sr.resize), which
    every export format, LiteRT included, runs natively."""

    def __init__(self, factor: int, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        height, width = ops.shape(x)[1], ops.shape(x)[2]
        if isinstance(height, int) and isinstance(width, int):
            return ops.image.resize(x, (height * self.factor, width * self.factor),
                                    interpolation="bicubic")
        return upscale_bicubic_tf(x, self.factor)  # a TensorFlow graph for any size (export)

    def compute_output_shape(self, shape):
        grow = lambda n: None if n is None else n * self.factor
        return (shape[0], grow(shape[1]), grow(shape[2]), shape[3])

    def get_config(self):
        return super().get_config() | {"factor": self.factor}


def build_generator(config: Config = Config()) -> keras.Model:
    """LR image in [-1, 1] of any size -> 4x SR image in [-1, 1] (fully convolutional)."""
    slope = config.leaky_slope
    lr = keras.Input(shape=(None, None, 3), name="lr")
    x = layers.Conv2D(config.gen_head_filters, config.gen_head_kernel, padding="same",
                      name="head_conv")(lr)
    x = layers.LeakyReLU(negative_slope=slope, name="head_lrelu")(x)
    for i, filters in enumerate(config.gen_res_filters, start=1):
        x = residual_unit(x, filters, slope, name=f"res{i}", batchnorm=config.gen_batchnorm,
                          scale=config.gen_residual_scale)
    x = upsample_x2(x, config.gen_up_filters, config.upsample, name="up1")
    x = _bn_lrelu(x, slope, config.gen_batchnorm)
    if config.upsample == "pixelshuffle":  # the second x2 feeds the output conv directly
        x = pixel_shuffle_x2(x, config.gen_up_filters, name="up2")
    else:
        x = layers.UpSampling2D(2, name="up2")(x)
    # With the bicubic skip the output conv starts at zero, so an untrained G is bicubic.
    sr = layers.Conv2D(3, config.gen_out_kernel, padding="same", activation="tanh",
                       kernel_initializer="zeros" if config.gen_bicubic_skip else "glorot_uniform",
                       name="sr" if not config.gen_bicubic_skip else "detail")(x)
    if config.gen_bicubic_skip:
        base = BicubicUpsampling(4, name="bicubic")(lr)
        sr = layers.Add(name="detail_plus_bicubic")([sr, base])
        sr = layers.Activation("hard_tanh", dtype="float32", name="sr")(sr)  # clip to [-1, 1]
    return keras.Model(lr, sr, name="generator")


def build_discriminator(config: Config = Config(), logits: bool = False,
                        hr_size: int = 128) -> keras.Model:
    """HR image in [-1, 1] -> probability that it is a real photo, or with `logits` its
    logit (what the ragan and hinge losses read: `losses.ADVERSARIAL[name].logits`)."""
    slope = config.leaky_slope

    def weights(layer):
        if config.disc_spectral_norm:
            return layers.SpectralNormalization(layer, name=f"sn_{layer.name}")
        return layer

    hr = keras.Input(shape=(hr_size, hr_size, 3), name="hr")
    x = weights(layers.Conv2D(config.disc_head_filters, 3, padding="same",
                                   name="head_conv"))(hr)
    x = layers.LeakyReLU(negative_slope=slope)(x)
    for i, filters in enumerate(config.disc_stage_filters, start=1):
        x = weights(layers.Conv2D(filters, 3, strides=2, padding="same",
                                       name=f"down{i}_conv"))(x)
        x = batch_norm()(x)
        x = layers.LeakyReLU(negative_slope=slope, name=f"down{i}_features")(x)
    x = weights(layers.Conv2D(config.disc_conv_filters, 3, padding="same", name="conv"))(x)
    x = _bn_lrelu(x, slope)
    x = weights(layers.Dense(config.disc_dense_units, name="dense"))(x)  # per-position
    x = _bn_lrelu(x, slope)
    x = layers.GlobalAveragePooling2D()(x)
    p = layers.Dense(1, activation=None if logits else "sigmoid", dtype="float32",
                     name="logit" if logits else "p_real")(x)
    return keras.Model(hr, p, name="discriminator")


def blocks(model: keras.Model) -> list[tuple[str, tuple, int]]:
    """The model as blocks, for reading: (block, output shape, parameters) per stage (head,
    res1, up1, down1, ...: a layer's name up to its first "_"; other layers by their whole
    name), each BatchNorm and LeakyReLU that Keras named counted with the layer before it."""
    rows: list[list] = []
    for layer in model.layers[1:]:  # after the Input
        prefix = layer.name.split("_")[0]
        if layer.name.startswith(("batch_normalization", "leaky_re_lu")) and rows:
            block = rows[-1][0]
        else:
            block = prefix if prefix == "head" or prefix[-1:].isdigit() else layer.name
        if not rows or block != rows[-1][0]:
            rows.append([block, None, 0])
        rows[-1][1] = tuple(layer.output.shape[1:])
        rows[-1][2] += layer.count_params()
    return [tuple(row) for row in rows]
