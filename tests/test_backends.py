"""The JAX backend beside TensorFlow: same losses, weights that travel, a TF-free data path,
the protocol's resize in keras.ops, and MirroredStrategy against one device."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from backend_step import one_step, one_step_under_jax
from dcgan_sr import decoding, degrade, prepare
from dcgan_sr.batches import HRBatches
from dcgan_sr.resize import downscale_bicubic

jax = pytest.importorskip("jax")

@pytest.mark.parametrize("order", ["d_then_g", "simultaneous"])
def test_jax_and_tensorflow_steps_agree_and_weights_travel(tmp_path, tiny_config, sample_files, order):
    from dcgan_sr.train import build_gan
    config = dataclasses.replace(tiny_config, label_noise=0.0, r1_weight=1.0,
                                 content_loss="l1", content_weight=0.5, update_order=order)
    config.save(tmp_path / "config.json")
    hr, _ = decoding.load_hr(sample_files[:4])
    np.save(tmp_path / "hr.npy", hr)
    weights = tmp_path / "gan.weights.h5"
    build_gan(config).save_weights(weights)
    step = [tmp_path / "config.json", weights, tmp_path / "hr.npy"]
    logs = {"tensorflow": one_step(*step, tmp_path / "g_tensorflow.weights.h5"),  # this process
            "jax": one_step_under_jax(*step, tmp_path / "g_jax.weights.h5")}
    assert set(logs["jax"]) == set(logs["tensorflow"]) >= {"g_loss", "d_loss", "r1", "content"}
    for name, value in logs["tensorflow"].items():
        assert np.isclose(logs["jax"][name], value, rtol=1e-3, atol=1e-6), name
    # G after one step under JAX loads under TensorFlow and matches G after the TF step.
    from dcgan_sr.config import Config
    from dcgan_sr.models import build_generator
    weights = {}
    for backend in ("tensorflow", "jax"):
        g = build_generator(Config.load(tmp_path / "config.json"))
        g.load_weights(tmp_path / f"g_{backend}.weights.h5")
        weights[backend] = g.get_weights()
    for a, b in zip(weights["tensorflow"], weights["jax"]):
        np.testing.assert_allclose(a, b, atol=2 * config.g_learning_rate)  # one Adam step: <= lr


def test_protocol_resize_in_keras_ops_matches_tensorflow(sample_files):
    hr = decoding.load_hr(sample_files[:16])[0].astype(np.float32)
    reference = tf.image.resize(hr, (32, 32), method="bicubic", antialias=True).numpy()
    ours = np.asarray(downscale_bicubic(hr))
    assert np.abs(ours - reference).max() < 1e-3
    assert np.array_equal(np.round(np.clip(ours, 0, 255)), np.round(np.clip(reference, 0, 255)))
    # Pillow's LR (dcgan_sr.degrade, 8-bit fixed point inside) is nearly the same: about one
    # pixel in ten differs, by a grey level or so.
    pillow = np.stack([degrade.lr_from_hr(x) for x in hr.astype(np.uint8)]).astype(int)
    difference = np.abs(np.round(np.clip(ours, 0, 255)) - pillow)
    assert difference.max() <= 4 and difference.mean() < 0.15


def test_prepare_writes_memory_mapped_splits_and_resumes(tmp_path, celeba_dir, caplog):
    manifest = prepare.prepare(celeba_dir, tmp_path / "prepared")
    assert manifest["splits"] == {"train": {"images": 24, "skipped": 0},
                                  "val": {"images": 8, "skipped": 0}}
    train = prepare.load_prepared(tmp_path / "prepared", "train")
    assert isinstance(train, np.memmap) and train.shape == (24, 128, 128, 3)
    # The prepared crops are the protocol's HR, made once.
    first = sorted(celeba_dir.glob("*.jpg"))[0]
    assert np.array_equal(train[0], decoding.hr_from_file(first))
    with caplog.at_level("INFO", logger="dcgan_sr"):
        prepare.prepare(celeba_dir, tmp_path / "prepared")
    assert "exists: kept" in caplog.text


def test_hr_batches_cover_the_data_and_flip(tmp_path):
    hr = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 128, 128, 3), np.uint8)
    hr[:, :, :64] = 0  # left half dark: a flip is visible
    batches = HRBatches(hr, batch_size=5, steps=2, seed=0)
    seen = np.concatenate([batches[i] for i in range(len(batches))])
    assert sorted(seen.max(axis=(1, 2, 3))) == list(range(10))
    flipped = [b[0, 0, 0] != 0 for b in seen if b.max() > 0]
    assert any(flipped) and not all(flipped)


MIRRORED = r"""
import json, sys, numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from dcgan_sr import execution
from dcgan_sr.config import Config
from dcgan_sr.train import build_gan
config = Config.load(sys.argv[1])
hr = np.load(sys.argv[2])
results = {}
for strategy in ("default", "mirrored"):
    keras.utils.set_random_seed(0)
    how = execution.Execution("float32", False, strategy)
    with execution.distribution_scope(how):
        gan = build_gan(config)
        gan.set_adversarial(True)
    dataset = tf.data.Dataset.from_tensors(hr).repeat(3)
    gan.fit(dataset, epochs=1, verbose=0)
    results[strategy] = [w.tolist() for w in gan.generator.get_weights() + gan.discriminator.get_weights()]
    results[strategy + "_replicas"] = gan.distribute_strategy.num_replicas_in_sync
print(json.dumps(results))
"""


def test_mirrored_strategy_on_two_cpus_matches_one_device(tmp_path, tiny_config, sample_files):
    config = dataclasses.replace(tiny_config, label_noise=0.0)  # noise differs per replica
    config.save(tmp_path / "config.json")
    hr, _ = decoding.load_hr(sample_files[:8])
    np.save(tmp_path / "hr.npy", hr)
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path / "config.json"),
                           str(tmp_path / "hr.npy")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["mirrored_replicas"] == 2 and results["default_replicas"] == 1
    for one, two in zip(results["default"], results["mirrored"]):
        np.testing.assert_allclose(np.array(two), np.array(one), atol=2e-4)
