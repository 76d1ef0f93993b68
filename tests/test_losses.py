import dataclasses

import keras
import numpy as np
import pytest

from dcgan_sr import decoding, losses
from dcgan_sr.config import Config
from dcgan_sr.errors import UserError
from dcgan_sr.gan import SRGAN
from dcgan_sr.resize import pairs_from_hr
from dcgan_sr.models import build_discriminator, build_generator

RNG = np.random.default_rng(0)


def no_noise(like, target):
    return np.full(np.shape(like), target, np.float32)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def bce(target, p):
    return -np.mean(target * np.log(p) + (1 - target) * np.log(1 - p))


def test_adversarial_losses_match_their_formulas():
    real, fake = RNG.normal(size=(6, 1)).astype(np.float32), RNG.normal(size=(6, 1)).astype(np.float32)

    def both(kind, r, f):
        loss = losses.ADVERSARIAL[kind]
        return loss.discriminator(r, f, no_noise), loss.generator(r, f, no_noise)
    d, g = both("bce", sigmoid(real), sigmoid(fake))
    assert np.isclose(float(d), bce(1, sigmoid(real)) + bce(0, sigmoid(fake)), rtol=1e-4)
    assert np.isclose(float(g), bce(1, sigmoid(fake)), rtol=1e-4)
    d, g = both("ragan", real, fake)
    r, f = sigmoid(real - fake.mean()), sigmoid(fake - real.mean())
    assert np.isclose(float(d), bce(1, r) + bce(0, f), rtol=1e-4)
    assert np.isclose(float(g), bce(0, r) + bce(1, f), rtol=1e-4)
    d, g = both("hinge", real, fake)
    assert np.isclose(float(d), np.maximum(0, 1 - real).mean() + np.maximum(0, 1 + fake).mean(), rtol=1e-5)
    assert np.isclose(float(g), -fake.mean(), rtol=1e-5)


def test_the_config_offers_exactly_the_registered_losses():
    from dcgan_sr.config import CHOICES
    assert CHOICES["gan_loss"] == tuple(losses.ADVERSARIAL)
    assert CHOICES["content_loss"] == ("none", *losses.CONTENT)


def test_l1_and_feature_matching_content_losses(tiny_config):
    sr, hr = (RNG.uniform(-1, 1, (2, 128, 128, 3)).astype(np.float32) for _ in range(2))
    assert np.isclose(float(losses.CONTENT["l1"](sr, hr, None)), np.abs(sr - hr).mean(), rtol=1e-5)
    features = losses.discriminator_features(build_discriminator(tiny_config))
    assert len(features.outputs) == len(tiny_config.disc_stage_filters)
    assert float(losses.CONTENT["dfeat"](hr, hr, features)) == 0.0
    assert float(losses.CONTENT["dfeat"](sr, hr, features)) > 0.0


def test_vgg_features_are_conv5_4_before_relu():
    vgg = losses.vgg_features(weights=None)  # the ImageNet weights need a download
    out = np.asarray(vgg(RNG.uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)))
    assert out.shape == (1, 4, 4, 512) and out.min() < 0  # a ReLU output would have no negatives


@pytest.mark.parametrize("changes", [
    {"gan_loss": "ragan"}, {"gan_loss": "hinge", "disc_spectral_norm": True},
    {"content_loss": "l1", "content_weight": 0.5}, {"content_loss": "dfeat", "content_weight": 0.1},
    {"content_loss": "vgg", "content_weight": 0.01},
])
def test_a_training_step_with_each_option(tiny_config, sample_files, changes):
    config = dataclasses.replace(tiny_config, **changes)
    d = build_discriminator(config, logits=losses.ADVERSARIAL[config.gan_loss].logits)
    gan = SRGAN(build_generator(config), d, config, vgg_weights=None)
    gan.compile()
    gan.set_adversarial(True)
    hr, _ = decoding.load_hr(sample_files[:4])
    lr_batch, hr_batch = pairs_from_hr(hr)
    before = [w.copy() for w in gan.generator.get_weights()]
    logs = gan.train_on_batch(lr_batch, hr_batch, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert ("content" in logs) == ("content_loss" in changes)
    assert any(not np.array_equal(a, b) for a, b in zip(before, gan.generator.get_weights()))
    last = gan.discriminator.layers[-1]
    assert (last.activation is keras.activations.sigmoid) == (config.gan_loss == "bce")
    if config.disc_spectral_norm:
        assert any(isinstance(l, keras.layers.SpectralNormalization) for l in gan.discriminator.layers)


@pytest.mark.parametrize("values, message", [
    ({"gan_loss": "wgan"}, "gan_loss must be one of bce, ragan, hinge"),
    ({"content_loss": "vgg"}, "content_weight must be > 0"),
    ({"content_loss": 3}, "content_loss must be a string"),
])
def test_loss_options_are_validated(values, message):
    with pytest.raises(UserError, match=message):
        Config.from_dict(values)


def test_losses_at_chance_are_what_d_and_g_score_when_d_cannot_tell():
    import math

    assert losses.at_chance("bce") == pytest.approx((2 * math.log(2), math.log(2)))
    assert losses.at_chance("ragan") == pytest.approx((2 * math.log(2), 2 * math.log(2)))
    assert losses.at_chance("hinge") == pytest.approx((2.0, 0.0))
    # the seed's label noise does not move them: at 0.5, any target gives ln 2
    p = np.full((4, 1), 0.5, np.float32)
    noisy = lambda like, target: np.where(target == 1.0, 0.93, 0.04) * np.ones(np.shape(like), np.float32)
    assert float(losses.ADVERSARIAL["bce"].discriminator(p, p, noisy)) == pytest.approx(2 * math.log(2))


@pytest.mark.parametrize("content", ["l1", "dfeat"])
def test_content_losses_train_under_mixed_bfloat16(tiny_config, sample_files, content):
    """D's features come out in bfloat16 under mixed precision; the content term is added to
    the float32 MSE all the same (dfeat raised a dtype error in the step before)."""
    from dcgan_sr import execution

    config = dataclasses.replace(tiny_config, gan_loss="ragan", content_loss=content, content_weight=0.1)
    with execution.dtype_policy("mixed_bfloat16"):
        gan = SRGAN(build_generator(config), build_discriminator(config, logits=True), config)
    gan.compile()
    gan.set_adversarial(True)
    hr, _ = decoding.load_hr(sample_files[:4])
    logs = gan.train_on_batch(*pairs_from_hr(hr), return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()) and "content" in logs, logs
