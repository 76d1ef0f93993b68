"""Identity and landmark distances (dlib, the [faces] extra that `make` installs)."""

import os

import numpy as np
import pytest
from PIL import Image, ImageFilter

from dcgan_sr import degrade, evaluate, metrics, pixels

if not metrics.faces_available():
    if os.environ.get("CI") == "true":
        raise RuntimeError("dlib is not installed: CI must run the face metrics' tests")
    pytest.skip("dlib is not installed (pip install .[faces])", allow_module_level=True)


@pytest.fixture(scope="module")
def faces():
    return metrics.FaceMetrics()


@pytest.fixture(scope="module")
def pairs(sample_files):
    photos = [pixels.read_photo(f) for f in sample_files[:8]]
    return degrade.pairs(photos, "protocol")


def test_hr_against_itself_is_zero_and_the_scores_are_deterministic(faces, pairs):
    lr, hr = pairs
    first = faces.scores({"hr": hr, "bicubic": evaluate.interpolate(lr, "bicubic")}, hr)
    again = faces.scores({"hr": hr, "bicubic": evaluate.interpolate(lr, "bicubic")}, hr)
    assert np.all(first["hr"]["identity"] == 0) and np.all(first["hr"]["landmarks"] == 0)
    assert np.array_equal(first["bicubic"]["identity"], again["bicubic"]["identity"])
    assert np.all(first["bicubic"]["identity"] > 0)


def test_a_blurred_or_shifted_face_scores_worse_than_bicubic(faces, pairs):
    lr, hr = pairs
    blurred = np.stack([np.asarray(Image.fromarray(f).filter(ImageFilter.GaussianBlur(4))) for f in hr])
    shifted = np.roll(hr, (8, 8), axis=(1, 2))
    s = faces.scores({"bicubic": evaluate.interpolate(lr, "bicubic"), "blurred": blurred,
                      "shifted": shifted}, hr)
    assert s["blurred"]["identity"].mean() > s["bicubic"]["identity"].mean()
    assert s["shifted"]["landmarks"].mean() > s["bicubic"]["landmarks"].mean() + 5  # 8*sqrt(2) px


def test_the_values_are_a_direct_dlib_call(faces, pairs):
    """dlib called by hand, as the README writes the procedure: both faces scaled 2x by
    bicubic, HR's detected box, 68 landmarks in it on each, each face's descriptor."""
    import dlib
    import face_recognition_models as models

    lr, hr = pairs
    sr = evaluate.interpolate(lr, "bicubic")[0]
    big = [np.asarray(Image.fromarray(x).resize((256, 256), Image.BICUBIC)) for x in (sr, hr[0])]
    box = max(dlib.get_frontal_face_detector()(big[1], 0), key=lambda r: r.area())
    predictor = dlib.shape_predictor(models.pose_predictor_model_location())
    resnet = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    shapes = [predictor(x, box) for x in big]
    descriptors = [np.asarray(resnet.compute_face_descriptor(x, s)) for x, s in zip(big, shapes)]
    points = [np.array([(p.x, p.y) for p in s.parts()]) / 2 for s in shapes]
    ours = faces.scores({"sr": sr[None]}, hr[:1])["sr"]
    assert ours["identity"][0] == pytest.approx(np.linalg.norm(descriptors[0] - descriptors[1]))
    assert ours["landmarks"][0] == pytest.approx(np.linalg.norm(points[0] - points[1], axis=1).mean())


def test_evaluate_reports_identity_columns(sample_dir):
    result = evaluate.evaluate(sample_dir, {}, split="all", limit=4)
    assert {"identity", "landmarks", "same_person"} <= set(result["bicubic"])
    assert "identity" in evaluate.format_table(result).splitlines()[0]


def test_without_dlib_evaluate_says_so_once_and_reports_the_rest(monkeypatch, caplog, sample_dir):
    monkeypatch.setattr(metrics, "faces_available", lambda: False)
    evaluate.face_metrics.cache_clear()
    with caplog.at_level("INFO", logger="dcgan_sr"):
        result = evaluate.evaluate(sample_dir, {}, split="all", limit=2)
        evaluate.evaluate(sample_dir, {}, split="all", limit=2)
    assert "identity" not in result["bicubic"] and result["bicubic"]["psnr_rgb"] > 0
    assert caplog.text.count("dlib is not installed") == 1
    evaluate.face_metrics.cache_clear()  # the next test finds dlib again


def test_the_truth_is_analysed_once_per_face(pairs, monkeypatch):
    """evaluate meets the same HR under seven degradations: its box and analysis are kept."""
    faces = metrics.FaceMetrics()
    lr, hr = pairs
    first = faces.scores({"bicubic": evaluate.interpolate(lr, "bicubic")}, hr)
    monkeypatch.setattr(faces, "box", lambda _: pytest.fail("HR analysed again"))
    again = faces.scores({"bicubic": evaluate.interpolate(lr, "bicubic")}, hr)
    assert np.array_equal(first["bicubic"]["identity"], again["bicubic"]["identity"])


def test_the_identity_strip_shows_each_face_above_its_scores(faces, pairs, tmp_path):
    from dcgan_sr import plots
    lr, hr = pairs
    strip = {"bicubic": evaluate.interpolate(lr[:2], "bicubic")}
    scores = faces.scores(strip, hr[:2])
    drawn = plots.identity_strip(strip, hr[:2], scores, tmp_path / "s.png", caption=16)
    image = np.asarray(Image.open(drawn))
    size, gap, header = 128, plots.GAP, plots.HEADER
    assert image.shape == (header + 2 * (size + 16 + gap) + gap, 2 * (size + gap) + gap, 3)
    second_row = header + size + 16 + gap
    left_hr = gap + size + gap
    assert np.array_equal(image[second_row:second_row + size, left_hr:left_hr + size], hr[1])
    caption = image[second_row - 16 - gap:second_row - gap, gap:gap + size]
    assert caption.min() < 128  # the scores are written under the first row's face
