"""The speed layers (`dcgan_sr.speed_layers`): each computes what the Keras layers it
replaces compute, with the same weight files; `for_training` swaps them in with the same
weights and without drawing a random number."""

import dataclasses

import keras
import numpy as np
import pytest

from dcgan_sr import execution
from dcgan_sr.config import Config
from dcgan_sr.models import build_discriminator, build_generator
from dcgan_sr.speed_layers import (FusedBatchNormalization, NearestUpConv2D, SeparateBiasConv2D,
                                   for_training)


def _two_layer_form(kernel: int, filters: int, channels: int) -> keras.Model:
    """UpSampling2D(2) then a Conv2D: what NearestUpConv2D computes in one layer."""
    x = keras.Input((None, None, channels))
    up = keras.layers.UpSampling2D(2)(x)
    return keras.Model(x, keras.layers.Conv2D(filters, kernel, padding="same", activation="tanh",
                                              bias_initializer="random_normal")(up))


@pytest.mark.parametrize("kernel", [1, 3, 5, 9])
def test_nearest_up_conv_is_upsampling_then_conv_with_the_same_weights(kernel, tmp_path):
    """Same outputs and gradients as the two layers, and the two layers' weight files load
    into it (and back): Keras keys saved weights by class name, which it keeps as Conv2D."""
    two = _two_layer_form(kernel, 5, 4)
    x = keras.Input((None, None, 4))
    one = keras.Model(x, NearestUpConv2D(5, kernel, padding="same", activation="tanh")(x))
    two.save_weights(tmp_path / "two.weights.h5")
    one.load_weights(tmp_path / "two.weights.h5")
    image = np.random.default_rng(kernel).uniform(-1, 1, (2, 7, 10, 4)).astype(np.float32)
    assert one(image).shape == (2, 14, 20, 5)
    np.testing.assert_allclose(np.asarray(one(image)), np.asarray(two(image)), atol=1e-5)
    import tensorflow as tf
    grads = []
    for model in (one, two):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(image)))
        grads.append([np.asarray(g) for g in tape.gradient(loss, model.trainable_weights)])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    one.save_weights(tmp_path / "one.weights.h5")
    fresh = _two_layer_form(kernel, 5, 4)
    fresh.load_weights(tmp_path / "one.weights.h5")
    np.testing.assert_allclose(np.asarray(fresh(image)), np.asarray(two(image)), atol=1e-6)


def _bn_pair(cls_a, cls_b, channels: int, tmp_path):
    """Two BatchNorms with the same (non-trivial) weights, b's loaded from a's weight file."""
    models = []
    for cls in (cls_a, cls_b):
        x = keras.Input((None, None, channels))
        models.append(keras.Model(x, cls(momentum=0.8, gamma_initializer="random_normal",
                                         beta_initializer="random_normal")(x)))
    a, b = models
    a.save_weights(tmp_path / "a.weights.h5")
    b.load_weights(tmp_path / "a.weights.h5")
    return a, b


@pytest.mark.parametrize("policy, tolerance", [("float32", 1e-5), ("mixed_bfloat16", 2e-2)])
def test_fused_batch_norm_trains_as_keras_batch_norm(policy, tolerance, tmp_path):
    """In training: the same outputs, gradients (input, gamma, beta) and moving mean and
    variance (Keras' biased variance, not the fused op's corrected one) as Keras' layer."""
    import tensorflow as tf
    image = np.random.default_rng(0).normal(2.0, 3.0, (4, 6, 5, 8)).astype(np.float32)
    upstream = np.random.default_rng(1).normal(size=image.shape).astype(np.float32)
    with execution.dtype_policy(policy):
        keras_bn, fused_bn = _bn_pair(keras.layers.BatchNormalization, FusedBatchNormalization,
                                      8, tmp_path)
        results = []
        for model in (keras_bn, fused_bn):
            x = tf.constant(image)
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.cast(model(x, training=True), tf.float32)
                loss = tf.reduce_sum(y * upstream)
            layer = model.layers[-1]
            results.append([y, *tape.gradient(loss, [x, layer.gamma, layer.beta]),
                            layer.moving_mean, layer.moving_variance])
    names = ["output", "input gradient", "gamma gradient", "beta gradient", "moving mean",
             "moving variance"]
    for name, a, b in zip(names, *results):
        a, b = np.asarray(a), np.asarray(b)
        assert np.abs(a - b).max() <= tolerance * max(1.0, np.abs(a).max()), name
    # The moving variance moved (from 1) towards the batch's biased variance (of the input
    # as the layer reads it: rounded to bfloat16 under the mixed policy).
    seen = np.asarray(tf.cast(tf.cast(image, policy.removeprefix("mixed_")), tf.float32))
    biased = seen.reshape(-1, 8).astype(np.float64).var(axis=0)
    np.testing.assert_allclose(np.asarray(results[1][-1]), 0.8 + 0.2 * biased, rtol=1e-5)


def test_fused_batch_norm_infers_exactly_as_keras_and_shares_its_weight_files(tmp_path):
    """Inference runs Keras' own code (exports and upscaled images are unchanged), and the
    weight files of either layer load into the other."""
    image = np.random.default_rng(2).normal(size=(3, 4, 4, 6)).astype(np.float32)
    keras_bn, fused_bn = _bn_pair(keras.layers.BatchNormalization, FusedBatchNormalization,
                                  6, tmp_path)
    assert np.array_equal(np.asarray(keras_bn(image)), np.asarray(fused_bn(image)))
    fused_bn.layers[-1].moving_mean.assign(np.arange(6, dtype=np.float32))
    fused_bn.save_weights(tmp_path / "fused.weights.h5")
    keras_bn.load_weights(tmp_path / "fused.weights.h5")
    assert np.array_equal(np.asarray(keras_bn(image)), np.asarray(fused_bn(image)))
    assert all(isinstance(layer, FusedBatchNormalization)
               for layer in for_training(build_generator()).layers
               if isinstance(layer, keras.layers.BatchNormalization))


@pytest.mark.parametrize("strides", [1, 2])
def test_separate_bias_conv_is_keras_conv_with_its_bias_gradient_apart(strides, tmp_path):
    """Training: the same outputs and gradients as Keras' Conv2D, and no BiasAddGrad in the
    gradient's graph (the op oneDNN fuses into the slower kernel). Inference: exactly Keras'
    output. Weight files load both ways."""
    import tensorflow as tf
    models = []
    for cls in (keras.layers.Conv2D, SeparateBiasConv2D):
        x = keras.Input((None, None, 3))
        models.append(keras.Model(x, cls(8, 3, strides=strides, padding="same",
                                         activation="tanh", bias_initializer="random_normal")(x)))
    plain, separate = models
    plain.save_weights(tmp_path / "plain.weights.h5")
    separate.load_weights(tmp_path / "plain.weights.h5")
    image = np.random.default_rng(3).uniform(-1, 1, (2, 9, 8, 3)).astype(np.float32)
    assert np.array_equal(np.asarray(plain(image)), np.asarray(separate(image)))

    def loss_and_gradients(model, x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(x, training=True)))
        return [loss, *tape.gradient(loss, model.trainable_weights)]
    for a, b in zip(loss_and_gradients(plain, image), loss_and_gradients(separate, image)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    graph = tf.function(loss_and_gradients).get_concrete_function(
        separate, tf.TensorSpec((2, 9, 8, 3))).graph
    kinds = {op.type for op in graph.get_operations()}
    assert "Conv2DBackpropFilter" in kinds and "BiasAddGrad" not in kinds
    separate.layers[-1].bias.assign(np.arange(8, dtype=np.float32))
    separate.save_weights(tmp_path / "separate.weights.h5")
    plain.load_weights(tmp_path / "separate.weights.h5")
    assert np.array_equal(np.asarray(plain(image)), np.asarray(separate(image)))
    # Every convolution of the training models is one, or a NearestUpConv2D (which adds its
    # own bias).
    for model in (for_training(build_generator()), for_training(build_discriminator())):
        kinds = {type(layer) for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}
        assert kinds <= {SeparateBiasConv2D, NearestUpConv2D} and SeparateBiasConv2D in kinds


PRESETS_CONFIG = Config(gen_res_filters=(16, 16), gen_head_filters=16, gen_up_filters=16,
                        gen_bicubic_skip=True, gen_batchnorm=False, upsample="pixelshuffle")


@pytest.mark.parametrize("config", [Config(), PRESETS_CONFIG], ids=["seed", "presets"])
def test_for_training_swaps_the_layers_keeping_weights_outputs_and_random_draws(config, tmp_path):
    keras.utils.set_random_seed(0)
    g, d = build_generator(config), build_discriminator(config)
    after_plain = float(keras.random.uniform(()))
    keras.utils.set_random_seed(0)
    g, d = build_generator(config), build_discriminator(config)
    fast_g, fast_d = for_training(g), for_training(d)
    assert float(keras.random.uniform(())) == after_plain  # nothing drawn by the swap
    kinds = {type(layer) for model in (fast_g, fast_d) for layer in model.layers}
    assert {SeparateBiasConv2D, FusedBatchNormalization} <= kinds
    assert (NearestUpConv2D in kinds) == (config.upsample == "nearest_conv")
    assert keras.layers.Conv2D not in kinds and keras.layers.BatchNormalization not in kinds
    for plain, fast, size in ((g, fast_g, 16), (d, fast_d, 128)):
        assert all(np.array_equal(a, b) for a, b in zip(plain.get_weights(), fast.get_weights()))
        x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
        out, fast_out = np.asarray(plain(x)), np.asarray(fast(x))
        if NearestUpConv2D in kinds and plain is g:
            np.testing.assert_allclose(fast_out, out, atol=1e-5)  # summed in another order
        else:
            assert np.array_equal(fast_out, out)  # inference: Keras' own code, exactly
        fast.save_weights(tmp_path / "fast.weights.h5")  # the same files, both ways
        plain.load_weights(tmp_path / "fast.weights.h5")
        assert all(np.array_equal(a, b) for a, b in zip(plain.get_weights(), fast.get_weights()))


def test_training_builds_the_fast_step_and_the_benchmark_the_plain_one(tiny_config):
    from dcgan_sr.train import build_gan
    config = dataclasses.replace(tiny_config, gen_batchnorm=True)
    fast, plain = build_gan(config), build_gan(config, fast_layers=False)
    assert any(type(l) is SeparateBiasConv2D for l in fast.generator.layers)
    assert any(type(l) is FusedBatchNormalization for l in fast.discriminator.layers)
    assert {type(l) for m in (plain.generator, plain.discriminator) for l in m.layers}.isdisjoint(
        {SeparateBiasConv2D, FusedBatchNormalization, NearestUpConv2D})
