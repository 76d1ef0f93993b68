import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dcgan_sr import batches, degrade, metrics, pixels
from dcgan_sr.config import Config


@pytest.fixture(scope="module")
def photos(sample_files):
    return [pixels.read_photo(f) for f in sample_files[:8]]


def bicubic_psnr(lr, hr):
    up = np.stack([np.asarray(Image.fromarray(x).resize((128, 128), Image.BICUBIC)) for x in lr])
    return metrics.psnr(up, hr).mean()


@pytest.mark.parametrize("name", degrade.NAMED)
def test_each_named_degradation_has_the_shapes_and_is_seeded(photos, name):
    lr, hr = degrade.pairs(photos, name, seed=3)
    assert lr.shape == (8, 32, 32, 3) and hr.shape == (8, 128, 128, 3)
    assert lr.dtype == hr.dtype == np.uint8
    again_lr, again_hr = degrade.pairs(photos, name, seed=3)
    assert np.array_equal(lr, again_lr) and np.array_equal(hr, again_hr)
    # A real face keeps its range: not all black, white or constant.
    assert 0 < lr.mean() < 255 and lr.std() > 10


@pytest.mark.parametrize("name", ["blur_noise", "misaligned"])
def test_random_degradations_change_with_the_seed(photos, name):
    assert not np.array_equal(degrade.pairs(photos, name, seed=0)[0],
                              degrade.pairs(photos, name, seed=1)[0])


def test_protocol_is_pillows_antialiased_bicubic_and_tensorflows(photos, sample_files):
    lr, hr = degrade.pairs(photos, "protocol")
    for photo, low, high in zip(photos, lr, hr):
        square = Image.fromarray(degrade.central_square(photo))
        pillow_hr = square.resize((128, 128), Image.BICUBIC)
        assert np.array_equal(high, np.asarray(pillow_hr))
        assert np.array_equal(low, np.asarray(pillow_hr.resize((32, 32), Image.BICUBIC)))
    # The TensorFlow route (tf.data training) gives nearly the same pixels: JPEG decoders
    # and fixed-point resampling differ by a few grey levels at a few pixels.
    def tf_resize(images, size):
        resized = tf.image.resize(tf.cast(images, tf.float32), (size, size), "bicubic", antialias=True)
        return np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)
    tf_hr = np.stack([tf_resize(degrade.central_square(tf.io.decode_jpeg(
        tf.io.read_file(str(f)), dct_method="INTEGER_ACCURATE").numpy()), 128)
        for f in sample_files[:8]])
    tf_lr = tf_resize(tf_hr, 32)
    for ours, theirs in ((hr, tf_hr), (lr, tf_lr)):
        difference = np.abs(theirs.astype(int) - ours)
        assert difference.max() <= 6 and difference.mean() < 0.3


def test_naive_downscales_match_tensorflow_without_antialiasing(photos):
    window = degrade.central_square(photos[0])
    for kernel, method in (("bilinear_noaa", "bilinear"), ("nearest", "nearest")):
        ours = degrade.resize(window, 32, kernel).astype(int)
        reference = tf.image.resize(window, (32, 32), method=method, antialias=False)
        reference = np.clip(np.round(reference.numpy()), 0, 255).astype(int)
        assert np.abs(ours - reference).max() <= 1, kernel


def test_naive_downscales_alias_and_jpeg_loses_detail(photos):
    """Each named degradation makes bicubic worse than the protocol does (the point of
    the robustness table), except misaligned, which moves the window, not the pixels."""
    protocol = bicubic_psnr(*degrade.pairs(photos, "protocol"))
    for name in ("bilinear_noaa", "nearest", "jpeg", "blur_noise", "naive_jpeg"):
        assert bicubic_psnr(*degrade.pairs(photos, name)) < protocol - 0.3, name


def test_blur_noise_adds_noise_of_the_stated_sigma(photos):
    clean = degrade.lr_from_hr(degrade.blur(degrade.hr_from_window(degrade.central_square(photos[0])),
                                            degrade.gaussian_kernel(degrade.BLUR_SIGMA)))
    noisy, _ = degrade.named(photos[0], "blur_noise", np.random.default_rng(0))
    assert abs((noisy.astype(float) - clean).std() - degrade.NOISE_SIGMA) < 0.5


def test_misaligned_window_stays_inside_and_zooms_at_most_20_percent(photos):
    rng = np.random.default_rng(0)
    for _ in range(50):
        window = degrade.misaligned_window(photos[0], rng)
        assert window.shape[0] == window.shape[1]
        assert 0.8 * 178 - 1 <= window.shape[0] <= 178


def test_gaussian_kernel_is_normalised_and_anisotropic_when_asked():
    iso = degrade.gaussian_kernel(2.0)
    assert iso.sum() == pytest.approx(1.0) and np.allclose(iso, iso.T)
    aniso = degrade.gaussian_kernel(3.0, 0.5, angle=0.0)
    assert aniso.sum() == pytest.approx(1.0)
    assert aniso[10, :].sum() > aniso[:, 10].sum()  # wide along x, narrow along y


def test_realistic_mix_is_seeded_varied_and_in_range(photos):
    windows = [degrade.training_window(p) for p in photos]
    mix = degrade.RealisticMix()
    lr, hr = degrade.pairs(windows, mix, seed=0)
    assert lr.shape == (8, 32, 32, 3) and hr.shape == (8, 128, 128, 3) and lr.dtype == np.uint8
    assert np.array_equal(lr, degrade.pairs(windows, mix, seed=0)[0])
    assert not np.array_equal(lr, degrade.pairs(windows, mix, seed=1)[0])
    # The HR target is always the protocol's, whatever the draw.
    assert np.array_equal(hr, degrade.pairs(photos, "protocol")[1])
    # With every probability at 0 the mix is one clean downscale by the kernel.
    plain = degrade.RealisticMix(protocol_prob=0, blur_prob=0, noise_prob=0, jpeg_prob=0,
                                 kernels=("nearest",), shift=0.0)
    assert np.array_equal(degrade.pairs(windows, plain)[0],
                          degrade.pairs(photos, "nearest")[0])
    opencv = dataclasses.replace(plain, kernels=("nearest_cv",))
    assert np.array_equal(degrade.pairs(windows, opencv)[0],
                          degrade.pairs(photos, "nearest_cv")[0])
    # With a shift, the sampling grid moves: not Pillow's phase, not OpenCV's.
    shifted = degrade.pairs(windows, dataclasses.replace(plain, shift=0.5))[0]
    assert not np.array_equal(shifted, degrade.pairs(photos, "nearest")[0])


@pytest.mark.parametrize("kernel", degrade.RealisticMix().kernels)
def test_a_shift_of_whole_pixels_moves_every_kernels_output_by_that_many_pixels(kernel):
    """resize(..., shift) moves the sampling grid in output pixels: at an integer scale a
    shift of one pixel is the unshifted output moved by one (away from the edges)."""
    image = np.random.default_rng(3).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    plain = degrade.resize(image, 32, kernel).astype(int)
    moved = degrade.resize(image, 32, kernel, shift=(1.0, -1.0)).astype(int)
    assert np.abs(moved[3:-4, 4:-3] - plain[4:-3, 3:-4]).max() <= 1  # rounding
    half = degrade.resize(image, 32, kernel, shift=(0.5, 0.5)).astype(int)
    assert np.abs(half[3:-3, 3:-3] - plain[3:-3, 3:-3]).mean() > 5


def test_mix_ranges_come_from_the_config_and_are_validated():
    config = Config(degradation="realistic", mix_jpeg_quality=(50.0, 60.0), mix_kernels=("area",))
    mix = degrade.RealisticMix.from_config(config)
    assert mix.jpeg_quality == (50.0, 60.0) and mix.kernels == ("area",)
    assert Config.from_dict(config.to_dict()) == config
    for bad in ({"mix_jpeg_quality": [90, 10]}, {"mix_blur_prob": 1.5},
                {"mix_kernels": ["bicubic", "sinc"]}, {"mix_noise_sigma": [1.0]},
                {"mix_shift": 0.75}):
        with pytest.raises(Exception, match="mix_"):
            Config.from_dict(bad)


def test_a_kernel_listed_twice_is_drawn_twice_as_often(monkeypatch):
    """The shipped `real` was fine-tuned with Pillow's naive kernels listed twice in
    mix_kernels (configs/default_k3_finetune/pillow.json): a list, drawn uniformly."""
    drawn = []
    real_resize = degrade.resize
    monkeypatch.setattr(degrade, "resize", lambda image, size, kernel="bicubic", shift=(0.0, 0.0):
                        drawn.append(kernel) or real_resize(image, size, kernel, shift))
    config = Config(degradation="realistic", mix_kernels=("area", "nearest", "nearest"),
                    mix_protocol_prob=0.0, mix_blur_prob=0.0, mix_noise_prob=0.0, mix_jpeg_prob=0.0)
    mix, window = degrade.RealisticMix.from_config(config), np.zeros((64, 64, 3), np.uint8)
    rng = np.random.default_rng(0)
    for _ in range(600):
        degrade.realistic(window, mix, rng)
    lr_draws = [k for k in drawn if k != "bicubic"]  # hr_from_window resizes with bicubic
    assert set(lr_draws) == {"area", "nearest"} and len(lr_draws) == 600
    assert 0.6 < lr_draws.count("nearest") / 600 < 0.73


def test_degraded_batches_are_reproducible_model_range_pairs(photos):
    windows = [degrade.training_window(p) for p in photos]
    make = lambda: batches.DegradedBatches(windows, degrade.RealisticMix(), 4, steps=3, seed=5)
    first, second = make(), make()
    lr, hr = first[1]
    assert lr.shape == (4, 32, 32, 3) and hr.shape == (4, 128, 128, 3)
    assert lr.min() >= -1 and lr.max() <= 1 and hr.min() >= -1 and hr.max() <= 1
    assert np.array_equal(lr, second[1][0]) and np.array_equal(hr, second[1][1])
    first.on_epoch_end()
    assert not np.array_equal(first[1][0], lr)  # a new epoch draws anew


def test_nearest_cv_samples_like_opencv_half_a_pixel_from_pillow():
    """cv2.resize(..., INTER_NEAREST) takes source pixel floor(i * 178 / 32) for output i;
    Pillow's NEAREST the one under the output pixel's centre, floor((i + 0.5) * 178 / 32)."""
    import numpy as np

    from dcgan_sr import degrade

    window = np.zeros((178, 178, 3), np.uint8)
    window[..., 0] = np.arange(178)[:, None]  # each pixel says its row and column
    window[..., 1] = np.arange(178)[None, :]
    lr = degrade.nearest_opencv(window, 32)
    expected = np.floor(np.arange(32) * 178 / 32).astype(int)
    assert np.array_equal(lr[:, 0, 0], expected) and np.array_equal(lr[0, :, 1], expected)
    pillow = degrade.resize(window, 32, "nearest")
    assert np.array_equal(pillow[:, 0, 0], np.floor((np.arange(32) + 0.5) * 178 / 32).astype(int))
    photo = np.concatenate([np.zeros((20, 178, 3), np.uint8), window, np.zeros((20, 178, 3), np.uint8)])
    named_lr, _ = degrade.named(photo, "nearest_cv", np.random.default_rng(0))
    assert np.array_equal(named_lr, lr)
