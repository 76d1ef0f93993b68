import dataclasses

import numpy as np
import keras
import pytest

from dcgan_sr import execution
from dcgan_sr.config import Config
from dcgan_sr.gan import SRGAN
from dcgan_sr.models import (FusedBatchNormalization, NearestUpConv2D, SeparateBiasConv2D,
                             build_discriminator, build_generator)

# Default (seed) architecture. Counts include BatchNorm's moving statistics.
SEED_GENERATOR_PARAMS = 3_057_539
SEED_DISCRIMINATOR_PARAMS = 3_040_961


def test_seed_parameter_counts():
    assert build_generator(Config()).count_params() == SEED_GENERATOR_PARAMS
    assert build_discriminator(Config()).count_params() == SEED_DISCRIMINATOR_PARAMS


def test_seed_generator_layout():
    g = build_generator(Config())
    convs = [l for l in g.layers if isinstance(l, keras.layers.Conv2D)]
    assert convs[0].kernel_size == (7, 7) and convs[0].filters == 64
    res_widths = [l.filters for l in convs if l.name.endswith("_conv2")]
    assert res_widths == [256, 256, 128, 128, 64, 64]
    assert all(l.kernel_size == (1, 1) for l in convs if l.name.endswith("_skip_conv"))
    assert convs[-1].kernel_size == (9, 9) and convs[-1].activation.__name__ == "tanh"
    # Both nearest x2 upsamplings run inside the conv after each (NearestUpConv2D).
    assert [l.name for l in g.layers if isinstance(l, NearestUpConv2D)] == ["up1_conv", "sr"]
    # The LeakyReLU the seed's notebook forgot after the first upsampling conv is there.
    after_up = g.layers[[l.name for l in g.layers].index("up1_conv") + 2]
    assert isinstance(after_up, keras.layers.LeakyReLU)


def test_seed_discriminator_layout():
    d = build_discriminator(Config())
    strided = [l for l in d.layers if isinstance(l, keras.layers.Conv2D) and l.strides == (2, 2)]
    assert [l.filters for l in strided] == [64, 128, 256, 512]
    for conv in strided:  # each strided conv is followed by BN then LeakyReLU (seed forgot these)
        i = d.layers.index(conv)
        assert isinstance(d.layers[i + 1], keras.layers.BatchNormalization)
        assert isinstance(d.layers[i + 2], keras.layers.LeakyReLU)
    assert any(isinstance(l, keras.layers.GlobalAveragePooling2D) for l in d.layers)
    assert d.layers[-1].activation.__name__ == "sigmoid"


def test_generator_is_fully_convolutional(tiny_config):
    g = build_generator(tiny_config)
    for h, w in [(32, 32), (17, 45)]:
        out = np.asarray(g(np.zeros((1, h, w, 3), np.float32)))
        assert out.shape == (1, 4 * h, 4 * w, 3)
        assert np.all(np.abs(out) <= 1.0)


def test_discriminator_outputs_probabilities_or_logits(tiny_config):
    hr = np.random.default_rng(0).uniform(-1, 1, (2, 128, 128, 3)).astype(np.float32)
    p = np.asarray(build_discriminator(tiny_config)(hr))
    assert p.shape == (2, 1) and np.all((p >= 0) & (p <= 1))
    d = build_discriminator(tiny_config, logits=True)
    assert d.layers[-1].name == "logit" and d.layers[-1].activation is keras.activations.linear
    assert build_discriminator(tiny_config).layers[-1].activation is keras.activations.sigmoid


@pytest.mark.parametrize("gan_loss, logits", [("bce", True), ("ragan", False), ("hinge", False)])
def test_a_gan_refuses_a_discriminator_head_its_loss_cannot_read(tiny_config, gan_loss, logits):
    """A sigmoid's probabilities read as logits (or the reverse) would train wrongly and
    silently; SRGAN names the fix instead."""
    config = dataclasses.replace(tiny_config, gan_loss=gan_loss)
    with pytest.raises(ValueError, match=f"build_discriminator\\(config, logits={not logits}\\)"):
        SRGAN(build_generator(config), build_discriminator(config, logits=logits), config)


def test_widths_are_configurable():
    small = Config(gen_res_filters=(32, 32), gen_up_filters=16)
    names = [l.name for l in build_generator(small).layers]
    assert "res2_add" in names and "res3_add" not in names


def test_bicubic_skip_starts_near_bicubic_and_stays_in_range(tiny_config):
    import dataclasses
    g = build_generator(dataclasses.replace(tiny_config, gen_bicubic_skip=True))
    lr = np.random.default_rng(0).uniform(-1, 1, (1, 8, 8, 3)).astype(np.float32)
    sr = np.asarray(g(lr))
    assert sr.shape == (1, 32, 32, 3) and np.all(np.abs(sr) <= 1.0)
    bicubic = np.asarray(keras.layers.UpSampling2D(4, interpolation="bicubic")(lr))
    detail = np.asarray(keras.Model(g.input, g.get_layer("detail").output)(lr))
    np.testing.assert_allclose(sr, np.clip(bicubic + detail, -1, 1), atol=1e-5)
    assert np.all(detail == 0)  # the detail branch starts at zero: untrained G is bicubic


def test_generator_without_batchnorm(tiny_config):
    import dataclasses
    g = build_generator(dataclasses.replace(tiny_config, gen_batchnorm=False))
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in g.layers)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(g(x, training=True)), np.asarray(g(x, training=False)), atol=1e-6)


def test_pixelshuffle_with_icnr_starts_as_nearest_upsampling():
    import dataclasses
    config = dataclasses.replace(Config(), gen_res_filters=(8,), gen_head_filters=8,
                                 gen_up_filters=8, upsample="pixelshuffle")
    g = build_generator(config)
    probe = keras.Model(g.input, g.get_layer("up1_shuffle").output)
    out = np.asarray(probe(np.random.default_rng(0).random((1, 8, 8, 3), np.float32)))
    assert out.shape == (1, 16, 16, 8)
    # every 2x2 block holds one value per channel, as nearest upsampling would
    np.testing.assert_allclose(out[:, 0::2, 0::2], out[:, 1::2, 1::2], atol=1e-6)
    np.testing.assert_allclose(out[:, 0::2, 0::2], out[:, 0::2, 1::2], atol=1e-6)


def test_residual_scale_adds_a_scaling_layer_per_unit():
    import dataclasses
    g = build_generator(dataclasses.replace(Config(), gen_residual_scale=0.1))
    scales = [l for l in g.layers if l.name.endswith("_scale")]
    assert len(scales) == 6 and all(l.scale == 0.1 for l in scales)
    assert g.count_params() == SEED_GENERATOR_PARAMS  # scaling adds no weights


def test_blocks_cover_every_layer_and_parameter_once():
    from dcgan_sr.models import blocks
    from dcgan_sr.presets import preset_files

    for config in (Config(), Config.load(preset_files("gan")[1])):
        for model in (build_generator(config), build_discriminator(config)):
            rows = blocks(model)
            assert sum(params for _, _, params in rows) == model.count_params()
            names = [name for name, _, _ in rows]
            assert len(names) == len(set(names)), names  # each block is one run of layers
            assert names[0] == "head" and rows[-1][1][-1] in (1, 3)
    seed_g = [name for name, _, _ in blocks(build_generator(Config()))]
    # The second nearest x2 runs inside the 9x9 output conv (NearestUpConv2D): no up2 block.
    assert seed_g == ["head", "res1", "res2", "res3", "res4", "res5", "res6", "up1", "sr"]


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
    assert all(isinstance(layer, FusedBatchNormalization) for layer in build_generator().layers
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
    # Every convolution of the models is one, or a NearestUpConv2D (which adds its own bias).
    for model in (build_generator(), build_discriminator()):
        kinds = {type(layer) for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}
        assert kinds <= {SeparateBiasConv2D, NearestUpConv2D} and SeparateBiasConv2D in kinds
