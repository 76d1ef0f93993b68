import csv
import dataclasses
import json

import keras
import numpy as np
import pytest

from dcgan_sr import decoding
from dcgan_sr.gan import SRGAN, validation_psnr
from dcgan_sr.resize import pairs_from_hr
from dcgan_sr.models import build_discriminator, build_generator


def _gan(config):
    gan = SRGAN(build_generator(config), build_discriminator(config), config)
    gan.compile()
    return gan


def _batch(sample_files, n=4):
    hr, _ = decoding.load_hr(sample_files[:n])
    return pairs_from_hr(hr)


@pytest.mark.parametrize("order", ["d_then_g", "simultaneous"])
def test_adversarial_step_updates_generator_and_discriminator(tiny_config, sample_files, order):
    tiny_config = dataclasses.replace(tiny_config, update_order=order)
    gan = _gan(tiny_config)
    gan.set_adversarial(True)
    lr, hr = _batch(sample_files)
    g_before = [w.copy() for w in gan.generator.get_weights()]
    d_before = [w.copy() for w in gan.discriminator.get_weights()]
    logs = gan.train_on_batch(lr, hr, return_dict=True)
    assert {"g_loss", "mse", "adv", "d_loss", "d_real", "d_fake"} <= set(logs)
    assert all(np.isfinite(v) for v in logs.values())
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, gan.generator.get_weights()))
    assert any(not np.array_equal(a, b) for a, b in zip(d_before, gan.discriminator.get_weights()))
    w = tiny_config
    assert np.isclose(logs["g_loss"], w.adv_weight * logs["adv"] + w.mse_weight * logs["mse"], rtol=1e-5)
    assert int(gan.step) == 1


def test_the_seeds_order_d_first_then_g_through_the_updated_d(tiny_config, sample_files):
    """d_then_g: G's adversarial term is D's verdict after this step's D update (D in
    inference mode) on G's output before G's own update."""
    config = dataclasses.replace(tiny_config, label_noise=0.0, d_learning_rate=1e-2)  # D moves visibly
    gan = _gan(config)
    gan.set_adversarial(True)
    lr, hr = _batch(sample_files)
    g_before, d_before = build_generator(config), build_discriminator(config)
    g_before.set_weights(gan.generator.get_weights())
    d_before.set_weights(gan.discriminator.get_weights())
    logs = gan.train_on_batch(lr, hr, return_dict=True)
    sr = g_before(lr, training=True)

    def adversarial(d):
        return float(np.mean(keras.losses.binary_crossentropy(np.ones((4, 1)), d(sr, training=False))))
    assert abs(logs["adv"] - adversarial(gan.discriminator)) < 1e-5
    assert abs(logs["adv"] - adversarial(d_before)) > 1e-3  # not the D from before its update


def test_warm_up_trains_only_the_generator_and_lowers_mse(tiny_config, sample_files):
    gan = _gan(tiny_config)
    gan.set_adversarial(False)
    lr, hr = _batch(sample_files)
    d_before = [w.copy() for w in gan.discriminator.get_weights()]
    losses = []
    for _ in range(12):
        gan.reset_metrics()  # the trackers average over calls; we want each step's loss
        losses.append(gan.train_on_batch(lr, hr, return_dict=True)["mse"])
    assert losses[-1] < 0.75 * losses[0]
    assert all(np.array_equal(a, b) for a, b in zip(d_before, gan.discriminator.get_weights()))


def test_psnr_of_model_range_images():
    hr = np.zeros((2, 16, 16, 3), np.float32)
    sr = hr + 2 * 10 / 255.0  # 10 grey levels off everywhere
    assert np.allclose(np.asarray(validation_psnr(sr, hr)), 20 * np.log10(255 / 10), atol=1e-3)


def test_phases_use_their_own_generator_learning_rate(tiny_config):
    import dataclasses
    config = dataclasses.replace(tiny_config, pretrain_learning_rate=1e-3, pretrain_beta_1=0.9)
    gan = _gan(config)
    gan.set_adversarial(False)
    assert np.isclose(float(gan.g_optimizer.learning_rate), 1e-3) and gan.g_optimizer.beta_1 == 0.9
    gan.set_adversarial(True)
    assert np.isclose(float(gan.g_optimizer.learning_rate), config.g_learning_rate)
    assert gan.g_optimizer.beta_1 == config.g_beta_1


def test_ema_is_exported_and_differs_from_the_raw_weights(tmp_path, tiny_config, celeba_dir):
    import dataclasses
    from dcgan_sr.train import train
    config = dataclasses.replace(tiny_config, ema_decay=0.5, pretrain_steps=0, steps=4,
                                 checkpoint_every=4)
    train(config, celeba_dir, tmp_path / "run", verbose=0)
    from dcgan_sr.models import build_generator
    g = build_generator(config)
    g.load_weights(tmp_path / "run" / "generator.weights.h5")
    gan = _gan(config)
    from dcgan_sr.checkpoints import Checkpoints
    Checkpoints(tmp_path / "run" / "checkpoints").restore(gan)
    raw = [v.numpy() for v in gan.generator.trainable_variables]
    with gan.averaged_generator() as averaged:
        average = [v.numpy() for v in averaged.trainable_variables]
    exported = [w for w, v in zip(g.get_weights(), g.weights) if v.trainable]
    assert all(np.allclose(a, e) for a, e in zip(average, exported))
    assert any(not np.allclose(a, r) for a, r in zip(average, raw))
    assert all(np.array_equal(v.numpy(), r)  # the raw weights are put back
               for v, r in zip(gan.generator.trainable_variables, raw))
    # Validation during training scored the exported G too (keras.callbacks.SwapEMAWeights):
    # the last epoch's val_psnr is the summary's, which evaluates the exported weights.
    history = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert np.isclose(float(history[-1]["val_psnr"]), summary["val"]["psnr_rgb"], atol=2e-3)


def test_r1_penalty_is_logged_and_added_to_d_loss(tiny_config, sample_files):
    import dataclasses
    config = dataclasses.replace(tiny_config, r1_weight=10.0, label_noise=0.0)
    gan = _gan(config)
    gan.set_adversarial(True)
    hr, _ = decoding.load_hr(sample_files[:4])
    logs = gan.train_on_batch(hr, return_dict=True)
    assert logs["r1"] > 0 and np.isfinite(logs["d_loss"])
