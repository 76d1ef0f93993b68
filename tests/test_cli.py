"""The command line as a user meets it: exit codes, one-line errors, no tracebacks."""

import json
import os
import pty
import subprocess
import sys

import pytest
from PIL import Image

from dcgan_sr.config import Config
from dcgan_sr.degrade import NAMED
from conftest import assert_one_line_error, dcgan_sr, random_image


def test_upscale_writes_scaled_pngs_and_exits_1_on_an_unreadable_input(tmp_path, tiny_weights):
    Image.fromarray(random_image((20, 16, 3))).convert("L").save(tmp_path / "grey.png")
    (tmp_path / "bad.jpg").write_text("not a jpeg")
    result = dcgan_sr("upscale", tmp_path / "grey.png", tmp_path / "bad.jpg", "--out", tmp_path / "out",
                      "--weights", tiny_weights, "--outscale", "8", "--suffix", "_x8", "--device", "cpu")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "bad.jpg: not a readable image" in result.stdout
    assert "1 written, 0 skipped, 1 failed" in result.stdout
    with Image.open(tmp_path / "out" / "grey_x8.png") as out:
        assert out.size == (128, 160) and out.mode == "L"  # 8x, and still greyscale
    assert not list((tmp_path / "out").glob("bad*"))


def test_upscale_on_a_terminal_shows_one_progress_bar(tmp_path, tiny_weights):
    """On a terminal: Keras' Progbar (count, rate, ETA) instead of a line per file."""
    for i in range(3):
        Image.fromarray(random_image((12, 12, 3), seed=i)).save(tmp_path / f"{i}.png")
    leader, follower = pty.openpty()
    with subprocess.Popen([sys.executable, "-m", "dcgan_sr.cli", "upscale", str(tmp_path), "--out",
                           str(tmp_path / "out"), "--weights", str(tiny_weights)],
                          stdout=follower, stderr=subprocess.PIPE, text=True) as process:
        os.close(follower)
        shown = b""
        while chunk := _read(leader):
            shown += chunk
        process.wait(timeout=600)
    os.close(leader)
    text = shown.decode(errors="replace")
    assert process.returncode == 0 and "3 written, 0 skipped, 0 failed" in text
    assert "3/3" in text and "/image" in text and "[1/3]" not in text
    assert len(list((tmp_path / "out").glob("*.png"))) == 3


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # the process closed the terminal
        return b""


def test_device_gpu_without_one_is_one_line(cli):
    from dcgan_sr.runtime import gpus
    if gpus():
        pytest.skip("this machine has a GPU")
    assert_one_line_error(cli("upscale", "in.png", "--out", "o", "--device", "gpu"),
                          "--device gpu: the Keras backend sees no GPU")


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


def test_a_network_too_large_for_memory_is_one_line(tmp_path, sample_dir, cli):
    """--gen-res-filters 200000 asks for a 360-billion-weight convolution: out of memory is
    said in one line with what to lower (it was TensorFlow's ResourceExhaustedError)."""
    from conftest import assert_one_line_error

    assert_one_line_error(cli("train", "--data", sample_dir, "--out", tmp_path / "run", "--train-split",
                              "all", "--gen-res-filters", "200000", "--steps", "2", "--batch-size", "4"),
                          "out of memory", "--batch-size", code=1)


def test_a_full_disk_names_the_file_being_written(tmp_path):
    """A writer that fails with ENOSPC and no file name (as h5py does) is reported with the
    path it was writing, in the CLI's one line."""
    import errno

    from dcgan_sr.io import write_atomic

    def full(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as caught:
        write_atomic(tmp_path / "ckpt-0000002.weights.h5", full)
    assert caught.value.filename == str(tmp_path / "ckpt-0000002.weights.h5")
    assert caught.value.errno == errno.ENOSPC
    assert not list(tmp_path.iterdir())  # no temporary file left


def test_a_file_name_the_terminal_cannot_encode_is_printed_escaped(tmp_path):
    """A non-UTF-8 file name under a strict ASCII stdout: upscaled and named with escapes
    (printing it raised UnicodeEncodeError mid-batch)."""
    folder = tmp_path / "in"
    folder.mkdir()
    name = os.fsdecode(b"face\xff.png")
    Image.new("RGB", (20, 24), (90, 10, 10)).save(folder / name)
    env = dict(os.environ, PYTHONIOENCODING="ascii:strict")
    done = subprocess.run([sys.executable, "-m", "dcgan_sr.cli", "upscale", str(folder), "--out",
                           str(tmp_path / "out"), "--runtime", "keras"], env=env, capture_output=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert b"face\\udcff.png" in done.stdout and b"Traceback" not in done.stderr
    assert name in os.listdir(tmp_path / "out")  # the output keeps the file's own name


def test_evaluate_refuses_a_negative_seed_in_one_line(cli, sample_dir, tiny_weights):
    """--seed -1 escaped as NumPy's ValueError (train refused it in one line)."""
    assert_one_line_error(cli("evaluate", "--data", sample_dir, "--weights", tiny_weights,
                              "--degradation", "jpeg", "--seed", "-1"),
                          "--seed must be between 0 and 2**32 - 1, got -1")


def test_evaluate_takes_a_weights_file_whose_name_holds_a_comma(cli, sample_dir, tiny_weights, tmp_path):
    """"we,ird/generator.weights.h5" was split at the comma: "we: no such weights file"."""
    import shutil
    weird = tmp_path / "we,ird"
    weird.mkdir()
    shutil.copy(tiny_weights, weird / "generator.weights.h5")
    shutil.copy(tiny_weights.with_name("config.json"), weird / "config.json")
    result = cli("evaluate", "--data", sample_dir, "--weights", weird / "generator.weights.h5",
                 "--limit", "2", "--json")
    assert result.returncode == 0, result.stderr
    assert "generator" in json.loads(result.stdout)
    assert_one_line_error(cli("evaluate", "--data", sample_dir, "--weights", ""),
                          "--weights '': an empty name")
    assert_one_line_error(cli("evaluate", "--data", sample_dir, "--weights", "mse,,gan"),
                          "an empty name")
