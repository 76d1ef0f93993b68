"""Every bad input gets the documented treatment, with no traceback and no half-written file."""

import json

import pytest
from PIL import Image

from bad_inputs import CASES, CONVERT, OK, REFUSE, write_corpus
from dcgan_sr import data, decoding
from dcgan_sr.models import build_generator
from dcgan_sr.upscale import upscale_files
from dcgan_sr.upscaler import Upscaler
from conftest import assert_one_line_error, dcgan_sr


# Upscaling keeps these as they were (others become RGB).
KEPT_MODES = {"alpha.png": "RGBA", "grey.jpg": "L", "sixteen-bit.png": "L"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, sample_files):
    return write_corpus(tmp_path_factory.mktemp("bad"), sample_files[0])


@pytest.mark.parametrize("name", sorted(CASES))
def test_upscale_each_bad_input(corpus, tmp_path, tiny_config, name):
    lines = []
    report = upscale_files(Upscaler(build_generator(tiny_config)), [corpus / name], tmp_path,
                           say=lines.append)
    expected = CASES[name][0]
    target = tmp_path / f"{(corpus / name).stem}.png"
    if expected == REFUSE:
        assert len(report.failed) == 1 and name in report.failed[0] and not target.exists()
        assert "readable" in report.failed[0] or "too large" in report.failed[0]
    else:
        assert report.written == [target], lines
        width, height = Image.open(corpus / name).size
        assert Image.open(target).size == (4 * width, 4 * height)
        assert Image.open(target).mode == KEPT_MODES.get(name, "RGB")
        assert ("; " in lines[-1]) == (expected == CONVERT), lines[-1]  # a note, when converted
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_pipeline_skips_and_counts_the_unreadable(corpus, caplog):
    files = data.find_images(corpus)
    assert sorted(p.name for p in files) == sorted([*CASES, "loop.jpg"])
    hr, _ = decoding.load_hr(files)
    readable = [n for n, (_, pipeline) in CASES.items() if pipeline == OK]
    assert hr.shape == (len(readable), 128, 128, 3)
    skipped = len(files) - len(readable)
    assert f"skipped {skipped} unreadable or oversized image(s) of {len(files)}" in caplog.text


def test_cli_upscale_over_the_corpus(corpus, tmp_path, tiny_weights):
    result = dcgan_sr("upscale", corpus, "--out", tmp_path / "out", "--weights", tiny_weights)
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    refused = [n for n, (up, _) in CASES.items() if up == REFUSE]
    written = len(CASES) - len(refused)
    assert f"{written} written, 0 skipped, {len(refused)} failed" in result.stdout
    for name in refused:
        assert f"{name}:" in result.stdout


def test_cli_evaluate_over_the_corpus(cli, corpus, tiny_weights):
    result = cli("evaluate", "--data", corpus, "--split", "all", "--weights", tiny_weights, "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "skipped" in result.stderr
    assert json.loads(result.stdout)["n_images"] == sum(1 for _, p in CASES.values() if p == OK)


def test_folders_without_images(cli, tmp_path, tiny_weights):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("evaluate", "--data", tmp_path / "empty", "--weights", tiny_weights),
                          "no images found (.bmp/.gif/")
    result = cli("upscale", tmp_path / "empty", "--out", tmp_path / "out", "--weights", tiny_weights)
    assert result.returncode == 1 and "no images in this folder (.bmp/.gif/" in result.stdout
