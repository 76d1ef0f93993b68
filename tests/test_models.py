import dataclasses

import numpy as np
import keras
import pytest

from dcgan_sr.config import Config
from dcgan_sr.gan import SRGAN
from dcgan_sr.models import build_discriminator, build_generator

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
    # Keras' own layers only: what a learner reads is the seed's network
    assert [l.name for l in g.layers if isinstance(l, keras.layers.UpSampling2D)] == ["up1", "up2"]
    assert {type(l).__module__.split(".")[0] for l in g.layers} == {"keras"}
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
    assert seed_g == ["head", "res1", "res2", "res3", "res4", "res5", "res6", "up1", "up2", "sr"]


