"""The command line as a user meets it: exit codes, one-line errors, no tracebacks."""

import json

import pytest
from PIL import Image

from dcgan_sr.config import Config
from dcgan_sr.degrade import NAMED
from conftest import assert_one_line_error, dcgan_sr, random_image


def test_upscale_writes_scaled_pngs_and_exits_1_on_an_unreadable_input(tmp_path, tiny_weights):
    Image.fromarray(random_image((20, 16, 3))).convert("L").save(tmp_path / "grey.png")
    (tmp_path / "bad.jpg").write_text("not a jpeg")
    result = dcgan_sr("upscale", tmp_path / "grey.png", tmp_path / "bad.jpg", "--out", tmp_path / "out",
                      "--weights", tiny_weights, "--outscale", "8", "--suffix", "_x8")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "bad.jpg: not a readable image" in result.stdout
    assert "1 written, 0 skipped, 1 failed" in result.stdout
    with Image.open(tmp_path / "out" / "grey_x8.png") as out:
        assert out.size == (128, 160) and out.mode == "L"  # 8x, and still greyscale
    assert not list((tmp_path / "out").glob("bad*"))


def test_evaluate_json_has_the_documented_shape(cli, sample_dir, tiny_weights):
    result = cli("evaluate", "--data", sample_dir, "--weights", tiny_weights, "--limit", "4", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # Methods are named by preset name or by the weights file's stem.
    assert report["n_images"] == 4 and set(report) == {"n_images", "bilinear", "bicubic", "generator"}


def test_evaluate_all_prints_valid_json_per_degradation(cli, sample_dir, tiny_weights):
    result = cli("evaluate", "--data", sample_dir, "--weights", f"{tiny_weights},mse",
                      "--degradation", "all", "--limit", "2", "--json")
    assert result.returncode == 0, result.stderr
    table = json.loads(result.stdout)
    assert list(table) == list(NAMED)
    assert set(table["jpeg"]) == {"n_images", "bilinear", "bicubic", "generator", "mse"}


@pytest.mark.parametrize("args, fragments", [
    (["evaluate", "--data", "no/such/dir"], ["no/such/dir: no such folder"]),
    (["evaluate", "--data", "data/sample", "--weights", "missing.weights.h5"], ["missing.weights.h5"]),
    (["train", "--data", "data/sample", "--out", "x", "--batch-size", "0"], ["batch_size must be > 0"]),
    (["upscale", "in.png", "--out", "o", "--tile", "4"], ["--tile must be at least 16"]),
    (["upscale", "in.png", "--out", "o", "--outscale", "0"], ["--outscale must be above 0"]),
    (["upscale", "in.png", "--out", "o", "--suffix", "a/b"], ["--suffix is part of a file name"]),
])
def test_bad_input_is_one_line_and_exit_2(cli, args, fragments):
    assert_one_line_error(cli(*args), *fragments)


def test_train_flags_override_a_config_file(cli, tmp_path, celeba_dir, tiny_config):
    tiny_config.save(tmp_path / "base.json")
    out = tmp_path / "run"
    result = cli("train", "--data", celeba_dir, "--out", out, "--config", tmp_path / "base.json",
                 "--steps", 2, "--pretrain-steps", 0, "--gen-res-filters", "8,8,8")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["steps_completed"] == 2
    saved = Config.load(out / "config.json")
    assert saved.gen_res_filters == (8, 8, 8) and saved.batch_size == tiny_config.batch_size


def test_upscale_to_an_out_that_is_a_file_is_one_line(cli, tmp_path, tiny_weights):
    Image.fromarray(random_image((8, 8, 3))).save(tmp_path / "a.png")
    (tmp_path / "out").write_text("taken")
    result = cli("upscale", tmp_path / "a.png", "--out", tmp_path / "out", "--weights", tiny_weights)
    assert_one_line_error(result, str(tmp_path / "out"), code=1)
