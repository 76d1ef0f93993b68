import numpy as np
import pytest
import tensorflow as tf

from dcgan_sr import metrics
from conftest import random_image


def test_psnr_of_a_known_error():
    hr = np.full((1, 24, 24, 3), 100, np.uint8)
    sr = hr + np.uint8(5)
    assert metrics.psnr(sr, hr)[0] == pytest.approx(20 * np.log10(255 / 5))


def test_psnr_and_ssim_agree_with_tensorflow():
    """Against tf.image's independent implementations (same window, constants, 'valid')."""
    hr = random_image((3, 40, 40, 3), seed=1)
    noise = np.random.default_rng(2).integers(-20, 21, hr.shape)
    sr = np.clip(hr.astype(int) + noise, 0, 255).astype(np.uint8)
    crop = lambda x: tf.constant(x[:, 4:-4, 4:-4].astype(np.float64))
    np.testing.assert_allclose(metrics.psnr(sr, hr), tf.image.psnr(crop(sr), crop(hr), 255.0), rtol=1e-6)
    # tf.image.ssim averages the SSIM map over channels jointly, as we do for RGB.
    np.testing.assert_allclose(metrics.ssim(sr, hr), tf.image.ssim(crop(sr), crop(hr), 255.0), rtol=1e-4)


def test_y_channel_is_bt601_luma():
    white, black = np.full((1, 1, 1, 3), 255, np.uint8), np.zeros((1, 1, 1, 3), np.uint8)
    assert metrics.rgb_to_y(white)[0, 0, 0, 0] == pytest.approx(235.0, abs=1e-3)
    assert metrics.rgb_to_y(black)[0, 0, 0, 0] == pytest.approx(16.0)


def test_identical_images_have_ssim_one():
    image = random_image((2, 32, 32, 3))
    assert np.allclose(metrics.ssim(image, image), 1.0)
    assert np.allclose(metrics.ssim(image, image, y=True), 1.0)


def test_high_frequency_ratio():
    hr = random_image((2, 32, 32, 3), seed=4)
    assert np.allclose(metrics.high_frequency_ratio(hr, hr), 1.0)
    flat = np.full_like(hr, 128)
    assert np.allclose(metrics.high_frequency_ratio(flat, hr), 0.0)
    # Doubling the detail around the mean quadruples the Laplacian energy.
    y = metrics.rgb_to_y(hr)
    grey = np.repeat(np.clip(y, 0, 255), 3, axis=-1)
    mean = grey.mean(axis=(1, 2, 3), keepdims=True)
    base = np.round(mean + 0.25 * (grey - mean)).astype(np.uint8)
    double = np.round(mean + 0.5 * (grey - mean)).astype(np.uint8)
    assert np.allclose(metrics.high_frequency_ratio(double, base), 4.0, rtol=0.05)
