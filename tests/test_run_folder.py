"""One run folder, one writer, and no silent loss of progress: what `train` does with a
run folder that is damaged, in use, or asked for less than it has done."""

import csv
import dataclasses
import errno
import fcntl
import json
import logging
import os
import re
import shutil

import pytest

from dcgan_sr.checkpoints import Checkpoints
from dcgan_sr.errors import UserError
from dcgan_sr.train import train
from conftest import assert_one_line_error


def history_steps(out):
    with open(out / "history.csv") as handle:
        return [int(float(row["step"])) for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def finished4(tmp_path_factory, tiny_config, celeba_dir):
    config = dataclasses.replace(tiny_config, steps=4, pretrain_steps=2)
    out = tmp_path_factory.mktemp("finished") / "run"
    train(config, celeba_dir, out, verbose=0)
    return out, config


@pytest.fixture
def run4(tmp_path, finished4):
    """A copy of a finished 4-step run (checkpoints at steps 2 and 4), and the config that
    extends it to 6."""
    out = tmp_path / "run"
    shutil.copytree(finished4[0], out)
    return out, dataclasses.replace(finished4[1], steps=6)


def test_latest_json_naming_a_missing_checkpoint_resumes_from_the_newest_on_disk(run4, celeba_dir, caplog):
    out, longer = run4
    (out / "checkpoints" / "latest.json").write_text('{"file": "ckpt-0000009.weights.h5", "step": 9}')
    with caplog.at_level(logging.INFO, logger="dcgan_sr"):
        summary = train(longer, celeba_dir, out, verbose=0)
    assert "names a missing file" in caplog.text and f"resuming {out} from step 4" in caplog.text
    assert summary["steps_completed"] == 6 and history_steps(out) == [2, 4, 6]


@pytest.mark.parametrize("content", ["", '{"file": "ckpt-00', '{"step": 4}', "[]"])
def test_an_unreadable_latest_json_is_ignored_for_a_scan(finished4, tmp_path, content):
    folder = tmp_path / "checkpoints"
    shutil.copytree(finished4[0] / "checkpoints", folder)
    (folder / "latest.json").write_text(content)
    checkpoints = Checkpoints(folder)
    assert checkpoints.latest() is None and checkpoints.newest_step() == 4


def test_an_unreadable_latest_json_is_replaced_by_a_scan(run4, celeba_dir, caplog):
    out, longer = run4
    (out / "checkpoints" / "latest.json").write_text('{"file": "ckpt-00')
    with caplog.at_level(logging.INFO, logger="dcgan_sr"):
        train(longer, celeba_dir, out, verbose=0)
    assert "latest.json is unreadable" in caplog.text
    assert f"resuming {out} from step 4" in caplog.text and history_steps(out) == [2, 4, 6]
    assert Checkpoints(out / "checkpoints").latest()["step"] == 6  # written again


def test_a_truncated_newest_checkpoint_falls_back_to_the_previous_one(run4, celeba_dir, caplog):
    out, longer = run4
    newest = out / "checkpoints" / "ckpt-0000004.weights.h5"
    newest.write_bytes(newest.read_bytes()[:2000])
    with caplog.at_level(logging.INFO, logger="dcgan_sr"):
        summary = train(longer, celeba_dir, out, verbose=0)
    assert "ckpt-0000004.weights.h5 could not be loaded" in caplog.text
    assert "resuming from ckpt-0000002.weights.h5 instead of ckpt-0000004.weights.h5" in caplog.text
    assert summary["steps_completed"] == 6
    assert history_steps(out) == [2, 4, 6]  # step 4's row was redone, not doubled


def test_when_no_checkpoint_loads_nothing_is_touched(run4, celeba_dir):
    out, longer = run4
    for path in (out / "checkpoints").glob("ckpt-*.weights.h5"):
        path.write_bytes(b"not hdf5")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    with pytest.raises(UserError, match="no checkpoint could be loaded.*--overwrite"):
        train(longer, celeba_dir, out, verbose=0)
    assert {p: p.read_bytes() for p in before} == before


def test_history_without_checkpoints_is_never_restarted_silently(run4, celeba_dir):
    out, longer = run4
    for path in (out / "checkpoints").iterdir():
        path.unlink()
    with pytest.raises(UserError, match="no checkpoint to resume from.*--overwrite"):
        train(longer, celeba_dir, out, verbose=0)
    assert train(longer, celeba_dir, out, overwrite=True, verbose=0)["steps_completed"] == 6
    assert history_steps(out) == [2, 4, 6]


def test_a_corrupt_summary_is_written_again(run4, celeba_dir, caplog):
    out, longer = run4
    (out / "summary.json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="dcgan_sr"):
        summary = train(longer, celeba_dir, out, verbose=0)
    assert "summary.json is unreadable" in caplog.text
    assert json.loads((out / "summary.json").read_text()) == summary


def test_fewer_steps_than_done_changes_nothing(run4, celeba_dir):
    out, longer = run4
    shorter = dataclasses.replace(longer, steps=2, pretrain_steps=2)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    with pytest.raises(UserError, match="already past that: it finished 4 steps"):
        train(shorter, celeba_dir, out, verbose=0)
    assert {p: p.read_bytes() for p in before} == before


def test_a_second_training_on_the_same_folder_is_refused_naming_the_holder(tmp_path, tiny_config, celeba_dir):
    out = tmp_path / "run"
    out.mkdir()
    with open(out / ".lock", "a+") as held:  # as a running `train` holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242\n")
        held.flush()
        with pytest.raises(UserError, match=r"being trained by another process \(PID 4242\)"):
            train(tiny_config, celeba_dir, out, verbose=0)
    # Released (as when the holder dies): it trains.
    short = dataclasses.replace(tiny_config, steps=2, pretrain_steps=0)
    assert train(short, celeba_dir, out, verbose=0)["steps_completed"] == 2
    assert (out / ".lock").read_text().strip() == str(os.getpid())


def test_eight_or_fewer_images_and_no_validation_split_still_train(tmp_path, tiny_config, sample_files):
    folder = tmp_path / "few"
    folder.mkdir()
    for i, path in enumerate(sample_files[:6]):
        (folder / f"{i + 1:06d}.jpg").write_bytes(path.read_bytes())
    config = dataclasses.replace(tiny_config, steps=2, pretrain_steps=0)
    summary = train(config, folder, tmp_path / "run", verbose=0)
    assert summary["steps_completed"] == 2 and summary["train_images"] == 6


def test_a_batch_larger_than_the_training_set_is_refused(tmp_path, tiny_config, celeba_dir):
    config = dataclasses.replace(tiny_config, batch_size=100_000)
    with pytest.raises(UserError, match="--batch-size 100000 is larger than the 24 training images"):
        train(config, celeba_dir, tmp_path / "run", verbose=0)


@pytest.mark.parametrize("changes, message", [
    ({"g_learning_rate": float("nan")}, "g_learning_rate must be a finite number"),
    ({"mse_weight": float("inf")}, "mse_weight must be a finite number"),
    ({"d_clipvalue": float("nan")}, "d_clipvalue must be a finite number"),
    ({"mix_noise_sigma": (1.0, float("inf"))}, "mix_noise_sigma must be a finite number"),
    ({"seed": -5}, "seed must be between 0 and 2**32 - 1"),
    ({"seed": 2 ** 32}, "seed must be between 0 and 2**32 - 1"),
])
def test_non_finite_or_out_of_range_settings_are_refused(tiny_config, changes, message):
    with pytest.raises(UserError, match=re.escape(message)):
        dataclasses.replace(tiny_config, **changes)


def test_a_non_finite_flag_is_one_line_and_writes_nothing(cli, tmp_path):
    result = cli("train", "--data", "data/sample", "--out", tmp_path / "run",
                 "--g-learning-rate", "nan", "--seed", "-5")
    assert_one_line_error(result, "g_learning_rate must be a finite number",
                          "seed must be between 0 and 2**32 - 1")
    assert not (tmp_path / "run").exists()


def test_out_that_is_a_file_is_one_line_naming_it(cli, tmp_path, celeba_dir):
    (tmp_path / "taken").write_text("a user's file")
    result = cli("train", "--data", celeba_dir, "--out", tmp_path / "taken", "--steps", "2",
                 "--gen-res-filters", "8,8", "--batch-size", "4")
    assert_one_line_error(result, str(tmp_path / "taken"), code=1)
    assert (tmp_path / "taken").read_text() == "a user's file"


def test_a_full_disk_is_one_line_and_keeps_the_last_good_checkpoint(tmp_path, tiny_config, celeba_dir,
                                                                   monkeypatch, capsys):
    from dcgan_sr import checkpoints, cli
    saves = []
    real_save = checkpoints.Checkpoints.save

    def save_then_fill_the_disk(self, gan, step, wall_seconds):
        if saves:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC),
                          str(self.folder / f"ckpt-{step:07d}.weights.h5"))
        saves.append(step)
        return real_save(self, gan, step, wall_seconds)

    monkeypatch.setattr(checkpoints.Checkpoints, "save", save_then_fill_the_disk)
    tiny_config.save(tmp_path / "tiny.json")
    code = cli.main(["train", "--data", str(celeba_dir), "--out", str(tmp_path / "run"),
                     "--config", str(tmp_path / "tiny.json")])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert code == 1 and errors == [
        f"dcgan-sr: error: {tmp_path / 'run' / 'checkpoints' / 'ckpt-0000004.weights.h5'}: "
        "No space left on device"]
    kept = json.loads((tmp_path / "run" / "checkpoints" / "latest.json").read_text())
    assert kept["step"] == 2 and (tmp_path / "run" / "checkpoints" / kept["file"]).is_file()


def test_a_run_killed_after_its_last_step_finishes_and_leaves_no_temporary_file(run4, celeba_dir):
    """Killed just after generator.weights.h5 appeared: the same command never finished
    (timing nothing left divided by zero) and `.tmp-PID-generator.keras` stayed forever."""
    import subprocess
    import sys
    out, _ = run4
    config = dataclasses.replace(run4[1], steps=4, xla="auto")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (out / "summary.json").unlink()
    (out / "generator.keras").unlink()
    (out / f".tmp-{dead}-generator.keras").write_bytes(b"half a file")
    (out / "checkpoints" / f".tmp-{dead}-ckpt-0000004.weights.h5").write_bytes(b"half")
    summary = train(config, celeba_dir, out, verbose=0)
    assert summary["steps_completed"] == 4 and (out / "generator.keras").is_file()
    assert not list(out.rglob(".tmp-*"))


def test_the_runs_own_grids_are_never_read_as_training_images(tmp_path, tiny_config, sample_files):
    """--data D --out D --train-split all: on resume, samples/step_*.png became training images."""
    from dcgan_sr import data
    folder = tmp_path / "faces"
    folder.mkdir()
    for path in sample_files[:12]:
        shutil.copy(path, folder / path.name)
    config = dataclasses.replace(tiny_config, steps=2, pretrain_steps=2, checkpoint_every=2)
    first = train(config, folder, folder, train_split="all", val_split="all", verbose=0)
    assert list((folder / "samples").glob("step_*.png"))
    assert len(data.find_images(folder)) == 12
    longer = train(dataclasses.replace(config, steps=4), folder, folder, train_split="all",
                   val_split="all", verbose=0)
    assert longer["train_images"] == first["train_images"]
