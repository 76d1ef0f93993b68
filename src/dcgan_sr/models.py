"""The seed's generator and discriminator, layer by layer, in backend-neutral Keras.

Differences from the seed's notebook, on purpose: the LeakyReLUs its README
describes but its code never added (after the first upsampling conv and after
each strided discriminator conv) are put back. Options, off by default, go
beyond the seed: `gen_bicubic_skip` adds a bicubic upsampling of the input to the
output; `gen_batchnorm=False` drops BatchNorm from the generator;
`gen_residual_scale` scales each residual branch before its sum (EDSR);
`upsample="pixelshuffle"` replaces nearest upsampling + conv by a conv to 4x the
channels + depth_to_space, initialised with ICNR (Aitken et al., 2017) so that it
starts as nearest upsampling, without checkerboard artefacts.

The seed's nearest upsamplings are computed inside the convolution after each
(`NearestUpConv2D`): the same function and weights, without making the upsampled map.
For the speed of TensorFlow's train step on a CPU, the convolutions add their bias apart
(`SeparateBiasConv2D`) and BatchNorm trains as one fused op (`FusedBatchNormalization`):
Keras' layers, the same functions and weight files, and Keras' own code in inference.
"""

from __future__ import annotations

import keras
import numpy as np
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


def subpixel_phases(kernel: int, input_phases: bool = False) -> np.ndarray:
    """0/1 matrix regrouping the taps of a `kernel`-wide 'same' convolution on a 2x map by
    sub-pixel phase: [a, u, s] takes tap u of output phase a to offset s (-reach..reach,
    stored from 0) on the half-size map whose nearest 2x upsampling the conv reads; with
    `input_phases`, [a, c, u, s] for any 2x map, split into its input phases c."""
    half = (kernel - 1) // 2
    reach = (kernel - half) // 2
    shape = (2, 2, kernel, 2 * reach + 1) if input_phases else (2, kernel, 2 * reach + 1)
    table = np.zeros(shape, np.float32)
    for a in range(2):
        for u in range(kernel):
            m = a + u - half  # the 2x map's row read, relative to 2 x the output's half-size row
            table[(a, m % 2, u, m // 2 + reach) if input_phases else (a, u, m // 2 + reach)] = 1
    return table


@keras.saving.register_keras_serializable(package="dcgan_sr", name="SeparateBiasConv2D")
class SeparateBiasConv2D(layers.Conv2D):
    """Keras' Conv2D, whose bias TensorFlow adds as a plain broadcast add, not a BiasAdd.

    On a CPU, TensorFlow's oneDNN pass fuses a BiasAdd's gradient into the kernel's
    (Conv2DBackpropFilterWithBias), and that fused primitive is slower than the two apart,
    most for the discriminator's first convolution (3 input channels): `python
    benchmarks/bias_gradient.py` times both on the seed's shapes. Added as a broadcast add,
    the forward pass still runs as one fused convolution + bias, and the bias gradient
    becomes a separate sum. The same function and weights (tests/test_models.py). Only in
    training: inference, exports and other backends run Keras' own call, so upscaled images
    are exactly as before. Saved under Keras' class name, as NearestUpConv2D is: weight
    files load both ways."""

    def call(self, inputs, training=None):
        if not (training and self.use_bias) or self.data_format != "channels_last" \
                or keras.backend.backend() != "tensorflow":
            return super().call(inputs)
        import tensorflow as tf

        outputs = self.convolution_op(inputs, self.kernel)
        bias = tf.reshape(ops.cast(self.bias, outputs.dtype), (1, 1, 1, self.filters))
        outputs = tf.add(outputs, bias)  # keras.ops.add would make it a BiasAdd again
        return outputs if self.activation is None else self.activation(outputs)


SeparateBiasConv2D.__name__ = "Conv2D"  # the saved weights' key


@keras.saving.register_keras_serializable(package="dcgan_sr", name="NearestUpConv2D")
class NearestUpConv2D(layers.Conv2D):
    """UpSampling2D(2) then this Conv2D ('same', stride 1, odd kernel), computed without
    making the upsampled map: each of the four output phases is a smaller convolution of the
    input itself (a 9x9 kernel becomes four 5x5 ones, summed over the taps that read the same
    input pixel), run as one conv to 4x the filters and depth_to_space(2). The same function
    and the same weights as the two layers (tests/test_models.py); in the seed's G the 9x9
    output conv runs 8 to 9 times faster forward and backward on a CPU
    (`python benchmarks/output_conv.py`).

    Keras keys a layer's saved weights by its class name (conv2d, conv2d_1, ...), so this
    class is saved under Keras' name for a Conv2D (`__name__` below): the weight files of
    the two-layer form, written before this layer existed, load into it, and back."""

    def build(self, input_shape):
        super().build(input_shape)
        if self.strides != (1, 1) or self.dilation_rate != (1, 1) or self.padding != "same" \
                or self.kernel_size[0] % 2 == 0 or self.kernel_size[0] != self.kernel_size[1]:
            raise ValueError("NearestUpConv2D takes a square odd kernel, stride 1, 'same' padding")
        self.phases = subpixel_phases(self.kernel_size[0])

    def call(self, inputs):
        phases = ops.cast(self.phases, self.compute_dtype)
        kernel = ops.einsum("aus,bvt,uvio->stiabo", phases, phases,
                            ops.cast(self.kernel, self.compute_dtype))
        side, channels = self.phases.shape[-1], self.kernel.shape[2]
        kernel = ops.reshape(kernel, (side, side, channels, 4 * self.filters))
        outputs = ops.depth_to_space(self.convolution_op(inputs, kernel), 2)
        if self.use_bias:
            outputs = ops.add(outputs, ops.cast(self.bias, self.compute_dtype))
        return outputs if self.activation is None else self.activation(outputs)

    def compute_output_shape(self, shape):
        grow = lambda n: None if n is None else 2 * n
        return (shape[0], grow(shape[1]), grow(shape[2]), self.filters)


NearestUpConv2D.__name__ = "Conv2D"  # the saved weights' key (see the docstring)


def pixel_shuffle_x2(x, filters: int, name: str):
    """A 3x3 conv to 4x `filters` channels (ICNR-initialised), then depth_to_space(2)."""
    x = SeparateBiasConv2D(filters * 4, 3, padding="same", kernel_initializer=ICNR(2),
                           name=f"{name}_conv")(x)
    return PixelShuffle(2, name=f"{name}_shuffle")(x)


def upsample_x2(x, filters: int, kind: str, name: str):
    """x2 upsampling followed by a 3x3 conv to `filters` channels (before BN/LReLU)."""
    if kind == "pixelshuffle":
        return pixel_shuffle_x2(x, filters, name)
    return NearestUpConv2D(filters, 3, padding="same", name=f"{name}_conv")(x)


@keras.saving.register_keras_serializable(package="dcgan_sr", name="FusedBatchNormalization")
class FusedBatchNormalization(layers.BatchNormalization):
    """Keras' BatchNormalization, whose training step runs on TensorFlow as one fused op.

    Keras 3 computes a training batch's moments and normalisation as about a dozen
    separate ops (Mean, SquaredDifference, Mul, ...), and as many again for the gradient.
    TensorFlow's FusedBatchNormV3 does each in one pass (a oneDNN primitive on a CPU): see
    the op time it saves with `benchmarks/profile_step.py --ops` (README). The same function
    and moving statistics (the fused op gives the batch's variance with Bessel's correction;
    the moving variance takes Keras' biased one), to float rounding (tests/test_models.py).
    Inference, other backends, masks, renorm and synchronised replicas run Keras' own code,
    so saved models, exports and upscaled images are exactly as before. Saved under Keras'
    class name, as NearestUpConv2D is: weight files load both ways."""

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or keras.backend.backend() != "tensorflow" \
                or mask is not None or self.renorm or self.synchronized \
                or len(inputs.shape) != 4 or self.axis not in (-1, 3):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = ops.cast(inputs, "float32")  # as Keras: the statistics in float32 under any policy
        channels = x.shape[-1]
        gamma = ops.cast(self.gamma, "float32") if self.scale else ops.ones((channels,))
        beta = ops.cast(self.beta, "float32") if self.center else ops.zeros((channels,))
        empty = tf.constant([], tf.float32)
        y, mean, unbiased_variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=gamma, offset=beta, mean=empty, variance=empty,
            epsilon=self.epsilon, data_format="NHWC", is_training=True)
        count = ops.cast(ops.size(x) // channels, "float32")
        variance = unbiased_variance * (count - 1.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return ops.cast(y, self.compute_dtype)


FusedBatchNormalization.__name__ = "BatchNormalization"  # the saved weights' key


def batch_norm(**kwargs) -> layers.BatchNormalization:
    """BatchNormalization (fused in training on TensorFlow), synchronised across replicas
    when built under a tf.distribute strategy (then each replica normalises by the global
    batch, as one device would)."""
    synchronized = False
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        synchronized = tf.distribute.has_strategy()
    return FusedBatchNormalization(synchronized=synchronized, **kwargs)


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

    skip = bn(SeparateBiasConv2D(filters, 1, padding="same", name=f"{name}_skip_conv")(x),
              "skip_bn")
    y = SeparateBiasConv2D(filters, 3, padding="same", name=f"{name}_conv1")(x)
    y = _bn_lrelu(y, slope, batchnorm)
    y = bn(SeparateBiasConv2D(filters, 3, padding="same", name=f"{name}_conv2")(y), "bn2")
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
    x = SeparateBiasConv2D(config.gen_head_filters, config.gen_head_kernel, padding="same",
                           name="head_conv")(lr)
    x = layers.LeakyReLU(negative_slope=slope, name="head_lrelu")(x)
    for i, filters in enumerate(config.gen_res_filters, start=1):
        x = residual_unit(x, filters, slope, name=f"res{i}", batchnorm=config.gen_batchnorm,
                          scale=config.gen_residual_scale)
    x = upsample_x2(x, config.gen_up_filters, config.upsample, name="up1")
    x = _bn_lrelu(x, slope, config.gen_batchnorm)
    # The second x2 feeds the output conv directly: pixelshuffle's conv, or nearest
    # upsampling done inside the output conv (NearestUpConv2D).
    output_conv = SeparateBiasConv2D
    if config.upsample == "pixelshuffle":
        x = pixel_shuffle_x2(x, config.gen_up_filters, name="up2")
    else:
        output_conv = NearestUpConv2D
    # With the bicubic skip the output conv starts at zero, so an untrained G is bicubic.
    sr = output_conv(3, config.gen_out_kernel, padding="same", activation="tanh",
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
    x = weights(SeparateBiasConv2D(config.disc_head_filters, 3, padding="same",
                                   name="head_conv"))(hr)
    x = layers.LeakyReLU(negative_slope=slope)(x)
    for i, filters in enumerate(config.disc_stage_filters, start=1):
        x = weights(SeparateBiasConv2D(filters, 3, strides=2, padding="same",
                                       name=f"down{i}_conv"))(x)
        x = batch_norm()(x)
        x = layers.LeakyReLU(negative_slope=slope, name=f"down{i}_features")(x)
    x = weights(SeparateBiasConv2D(config.disc_conv_filters, 3, padding="same", name="conv"))(x)
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
