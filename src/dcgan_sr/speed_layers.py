"""Speed layers: TensorFlow's train step on a CPU, faster, with the same networks.

`models` builds the seed's networks from Keras' own layers; `for_training` returns a model
with three of them swapped for these, the same weights in the same places:

* `NearestUpConv2D` for an UpSampling2D(2) and the Conv2D after it: the conv computed on
  the map before upsampling (four sub-pixel kernels), 8 to 9 times faster for the seed's
  9x9 output conv (`python benchmarks/output_conv.py`);
* `SeparateBiasConv2D` for every other Conv2D: its bias added apart from the kernel in
  training, so oneDNN does not fuse the bias gradient into its slower weight-gradient
  primitive (`python benchmarks/bias_gradient.py`);
* `FusedBatchNormalization` for BatchNormalization: one fused op in training instead of
  a dozen (`python benchmarks/profile_step.py --ops`).

Each is Keras' layer with the same function (tests/test_speed_layers.py: outputs,
gradients, moving statistics) and is saved under Keras' class name, so weight files load
both ways. SeparateBiasConv2D and FusedBatchNormalization run Keras' own code in inference.
`make bench` times the step both ways (its `function_keras_layers` row: Keras' layers).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops


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
    becomes a separate sum. The same function and weights (tests/test_speed_layers.py). Only in
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
    and the same weights as the two layers (tests/test_speed_layers.py); in the seed's G the 9x9
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


@keras.saving.register_keras_serializable(package="dcgan_sr", name="FusedBatchNormalization")
class FusedBatchNormalization(layers.BatchNormalization):
    """Keras' BatchNormalization, whose training step runs on TensorFlow as one fused op.

    Keras 3 computes a training batch's moments and normalisation as about a dozen
    separate ops (Mean, SquaredDifference, Mul, ...), and as many again for the gradient.
    TensorFlow's FusedBatchNormV3 does each in one pass (a oneDNN primitive on a CPU): see
    the op time it saves with `benchmarks/profile_step.py --ops` (README). The same function
    and moving statistics (the fused op gives the batch's variance with Bessel's correction;
    the moving variance takes Keras' biased one), to float rounding (tests/test_speed_layers.py).
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


def for_training(model: keras.Model) -> keras.Model:
    """`model` with the speed layers in place of Keras' (see the module), the same weights;
    on other backends than TensorFlow, `model` itself. Layers not swapped are shared with
    `model`, and the swapped ones are made without drawing random numbers, so building the
    training model does not change what a seeded run draws afterwards."""
    if keras.backend.backend() != "tensorflow":
        return model
    swapped = {}

    def swap(layer):
        kind = _speed_kind(layer, model)
        if kind is None:
            return layer  # shared: the same weights, nothing drawn
        config = layer.get_config()
        if kind is _Skip:
            new = layers.Identity(name=layer.name)
        else:
            for key in ("kernel_initializer", "bias_initializer"):
                if key in config:
                    config[key] = "zeros"  # overwritten below: draw nothing
            new = kind.from_config(config)
        swapped[layer.name] = (layer, new)
        return new

    fast = keras.models.clone_model(model, clone_function=swap)
    for layer, new in swapped.values():
        new.set_weights(layer.get_weights())
    return fast


class _Skip:
    """An UpSampling2D that a NearestUpConv2D after it computes: left out (an Identity)."""


def _speed_kind(layer, model: keras.Model):
    """What `for_training` puts in place of `layer`: a speed layer's class, _Skip, or None."""
    if type(layer) is layers.BatchNormalization:
        return FusedBatchNormalization
    if type(layer) is layers.UpSampling2D:
        readers = _readers(layer, model)
        return _Skip if len(readers) == 1 and _nearest_up_pair(layer, readers[0]) else None
    if type(layer) is layers.Conv2D:
        before = _producer(layer)
        if type(before) is layers.UpSampling2D and _readers(before, model) == [layer] \
                and _nearest_up_pair(before, layer):
            return NearestUpConv2D
        return SeparateBiasConv2D
    return None


def _producer(layer):
    """The layer whose output `layer` reads (its only input), or None."""
    history = getattr(layer.input, "_keras_history", None)
    return history.operation if history is not None else None


def _readers(source, model: keras.Model) -> list:
    """The layers of `model` that read `source`'s output."""
    def reads(layer):
        inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        return any(getattr(getattr(x, "_keras_history", None), "operation", None) is source
                   for x in inputs)
    return [layer for layer in model.layers if layer is not source and reads(layer)]


def _nearest_up_pair(upsampling, conv) -> bool:
    """Whether UpSampling2D -> Conv2D is what one NearestUpConv2D computes."""
    k = conv.kernel_size
    return type(conv) is layers.Conv2D and tuple(upsampling.size) == (2, 2) \
        and upsampling.interpolation == "nearest" and conv.strides == (1, 1) \
        and conv.dilation_rate == (1, 1) and conv.padding == "same" and k[0] == k[1] \
        and k[0] % 2 == 1 and conv.data_format == "channels_last"
