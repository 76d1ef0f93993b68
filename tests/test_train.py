import contextlib
import csv
import dataclasses
import io
import json
import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from dcgan_sr import callbacks
from dcgan_sr.config import Config
from dcgan_sr.errors import TrainingInterrupted, UserError
from dcgan_sr.presets import load_generator
from dcgan_sr.checkpoints import Checkpoints
from dcgan_sr.train import build_gan, train


def _steps_logged(run):
    with open(run / "history.csv") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_config, celeba_dir):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        summary = train(tiny_config, celeba_dir, out)
    return out, summary, printed.getvalue().splitlines()


def test_the_log_counts_steps_over_both_phases_and_shows_only_active_terms(finished_run):
    _, _, lines = finished_run  # tiny_config: 6 steps, 2 of warm-up, an epoch every 2
    assert [line.split(" - ")[0] for line in lines] == [
        "step 2/6 (warm-up)", "step 4/6 (adversarial)", "step 6/6 (adversarial)"]
    assert "d_loss" not in lines[0] and "adv:" not in lines[0] and "d_loss" in lines[1]
    assert not any("nan" in line for line in lines)
    # history.csv keeps every column in both phases: empty where a term was not computed.
    with open(finished_run[0] / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == callbacks.HISTORY_COLUMNS and rows[0]["d_loss"] == "" != rows[1]["d_loss"]


def test_run_writes_weights_config_history_and_summary(finished_run, tiny_config):
    out, summary, _ = finished_run
    assert summary["steps_completed"] == tiny_config.steps == 6
    assert summary["train_images"] == 24 and summary["val"]["images"] == 4
    saved = json.loads((out / "config.json").read_text())
    assert saved["gen_res_filters"] == [8, 8] and saved["data"]["train_images"] == 24
    assert saved["versions"]["tensorflow"] == tf.__version__
    assert _steps_logged(out) == [2, 4, 6]
    for name in ("generator.keras", "generator.weights.h5", "generator_mse.weights.h5"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "samples").glob("*.png"))
    assert list((out / "logs").rglob("events.out.tfevents*"))
    # The exported weights load back (config found beside them) and differ from the warm-up's.
    final = load_generator(out / "generator.weights.h5")
    warm = load_generator(out / "generator_mse.weights.h5")
    assert any(not np.array_equal(a, b) for a, b in zip(final.get_weights(), warm.get_weights()))
    # The .keras export loads through Keras' safe mode into the same network.
    whole = load_generator(out / "generator.keras")
    assert all(np.array_equal(a, b) for a, b in zip(whole.get_weights(), final.get_weights()))


def test_finished_run_is_reported_not_redone(finished_run, tiny_config, celeba_dir):
    out, summary, _ = finished_run
    assert train(tiny_config, celeba_dir, out, verbose=0) == summary
    assert _steps_logged(out) == [2, 4, 6]


def test_a_different_config_is_refused_by_key(finished_run, tiny_config, celeba_dir):
    out, _, _ = finished_run
    other = dataclasses.replace(tiny_config, batch_size=2, mse_weight=1.0)
    with pytest.raises(UserError, match=r"\(mse_weight, batch_size differ\).*--overwrite"):
        train(other, celeba_dir, out, verbose=0)


def test_resume_after_interrupt_restores_optimizer_moments(tmp_path, tiny_config, celeba_dir,
                                                           monkeypatch, ctrl_c_enabled):
    out = tmp_path / "run"
    original = callbacks.CheckpointEvery.on_train_batch_end

    def ctrl_c_in_step_3(self, batch, logs=None):
        if self.step == 2:  # counted from 0: this is the end of step 3
            os.kill(os.getpid(), signal.SIGINT)
        original(self, batch, logs)

    monkeypatch.setattr(callbacks.CheckpointEvery, "on_train_batch_end", ctrl_c_in_step_3)
    with pytest.raises(TrainingInterrupted, match="interrupted at step 3"):
        train(tiny_config, celeba_dir, out, verbose=0)
    monkeypatch.setattr(callbacks.CheckpointEvery, "on_train_batch_end", original)

    # The checkpoint holds Adam's moments for G and RMSprop's for D, and a fresh model restores them.
    checkpoints = Checkpoints(out / "checkpoints")
    assert checkpoints.latest()["file"] == "ckpt-0000003.weights.h5"
    gan = build_gan(tiny_config)
    checkpoints.restore(gan)
    assert int(gan.step) == 3
    moments = [v for v in gan.g_optimizer.variables if "momentum" in v.path]
    assert moments and any(np.abs(v.numpy()).sum() > 0 for v in moments)
    d_velocities = [v for v in gan.d_optimizer.variables if "velocit" in v.path]
    assert d_velocities and any(np.abs(v.numpy()).sum() > 0 for v in d_velocities)

    summary = train(tiny_config, celeba_dir, out, verbose=0)
    assert summary["steps_completed"] == 6
    steps = _steps_logged(out)
    assert steps == sorted(steps) and steps[-1] == 6 and steps.count(2) == 1


def test_a_second_ctrl_c_stops_at_once_and_keeps_the_last_checkpoint(tmp_path, tiny_config,
                                                                    celeba_dir, monkeypatch,
                                                                    ctrl_c_enabled):
    original = callbacks.CheckpointEvery.on_train_batch_end

    def interrupt_in_step_3(self, batch, logs=None):
        original(self, batch, logs)
        if self.step == 3:  # as a second Ctrl-C does, wherever it lands
            raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.CheckpointEvery, "on_train_batch_end", interrupt_in_step_3)
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match=r"stopped at once.*\(step 2\) is kept"):
        train(tiny_config, celeba_dir, out, verbose=0)
    assert Checkpoints(out / "checkpoints").latest()["step"] == 2


def test_training_needs_train_partition_images(tmp_path, tiny_config, sample_dir):
    with pytest.raises(UserError, match="no images of the 'train' split.*--train-split all"):
        train(tiny_config, sample_dir, tmp_path / "run", verbose=0)


def test_nan_loss_stops_without_export(tmp_path, tiny_config, celeba_dir):
    bad = dataclasses.replace(tiny_config, g_learning_rate=1e30, pretrain_steps=0)
    with pytest.raises(UserError, match="NaN/Inf"):
        train(bad, celeba_dir, tmp_path / "run", verbose=0)
    assert not (tmp_path / "run" / "generator.weights.h5").exists()


def test_overwrite_discards_the_old_run_and_trains_afresh(tmp_path, tiny_config, celeba_dir):
    out = tmp_path / "run"
    train(dataclasses.replace(tiny_config, steps=2, pretrain_steps=2), celeba_dir, out, verbose=0)
    other = dataclasses.replace(tiny_config, steps=2, pretrain_steps=0, mse_weight=1.0)
    summary = train(other, celeba_dir, out, overwrite=True, verbose=0)
    assert summary["steps_completed"] == 2
    assert _steps_logged(out) == [2]  # the old history went with the old run
    assert not (out / "generator_mse.weights.h5").exists()  # nor did its warm-up export survive
    assert Config.load(out / "config.json") == other


def test_realistic_run_trains_on_degraded_photos_and_saves_the_mix(tmp_path, tiny_config, celeba_dir):
    config = dataclasses.replace(tiny_config, degradation="realistic", steps=4,
                                 mix_jpeg_quality=(40.0, 60.0))
    summary = train(config, celeba_dir, tmp_path / "real", verbose=0)
    assert summary["steps_completed"] == 4 and summary["train_images"] == 24
    saved = Config.load(tmp_path / "real" / "config.json")
    assert saved.degradation == "realistic" and saved.mix_jpeg_quality == (40.0, 60.0)
    assert np.isfinite(summary["val"]["psnr_rgb"])
    assert load_generator(tmp_path / "real" / "generator.weights.h5").output_shape == (None, None, None, 3)


def test_realistic_run_from_a_prepared_folder(tmp_path, tiny_config, celeba_dir):
    from dcgan_sr import prepare
    prepare.prepare(celeba_dir, tmp_path / "prepared")
    config = dataclasses.replace(tiny_config, degradation="realistic", steps=2, pretrain_steps=0)
    summary = train(config, tmp_path / "prepared", tmp_path / "real", verbose=0)
    assert summary["steps_completed"] == 2 and summary["train_images"] == 24


def test_extra_callbacks_see_every_checkpoint(tmp_path, tiny_config, celeba_dir):
    """train(callbacks=...) calls the caller's Keras callbacks after its own, once per epoch
    (a checkpoint interval), with the GAN as their model."""
    import keras

    class Steps(keras.callbacks.Callback):
        seen: list = []

        def on_epoch_end(self, epoch, logs=None):
            self.seen.append((int(self.model.step), "d_loss" in (logs or {}) or "mse" in (logs or {})))

    steps = Steps()
    train(tiny_config, celeba_dir, tmp_path / "run", verbose=False, callbacks=[steps])
    every = tiny_config.checkpoint_every
    assert steps.seen == [(s, True) for s in range(every, tiny_config.steps + 1, every)]


@pytest.mark.parametrize("xla, chosen, asked", [("auto", True, True), ("auto", False, True),
                                                ("on", True, False), ("off", False, False)])
def test_xla_auto_is_decided_by_autotune_and_on_off_force_it(tmp_path, tiny_config, celeba_dir,
                                                             monkeypatch, xla, chosen, asked):
    from dcgan_sr import autotune

    calls = []

    def stub(config, step, build):
        calls.append(step)
        return chosen

    monkeypatch.setattr(autotune, "choose_xla", stub)
    config = dataclasses.replace(tiny_config, xla=xla, steps=2, pretrain_steps=0)
    train(config, celeba_dir, tmp_path / "run", verbose=False)
    written = json.loads((tmp_path / "run" / "config.json").read_text())
    assert written["execution"]["jit_compile"] is chosen
    assert calls == ([0] if asked else [])


def test_overwrite_deletes_only_what_a_run_wrote(tmp_path, tiny_config, celeba_dir, cli):
    """train --overwrite discarded every file under logs/ and samples/ and replaced any
    config.json and summary.json: now the user's own files stay, and a JSON a run did not
    write stops it before anything is deleted."""
    from conftest import assert_one_line_error

    out = tmp_path / "proj"
    train(dataclasses.replace(tiny_config, steps=2, pretrain_steps=0), celeba_dir, out, verbose=0)
    (out / "logs" / "2025").mkdir(parents=True)
    (out / "logs" / "2025" / "notes.txt").write_text("my notes")
    (out / "samples" / "my_photo.jpg").write_bytes(b"my photo")
    other = dataclasses.replace(tiny_config, steps=2, pretrain_steps=0, mse_weight=1.0)
    train(other, celeba_dir, out, overwrite=True, verbose=0)
    assert (out / "logs" / "2025" / "notes.txt").read_text() == "my notes"
    assert (out / "samples" / "my_photo.jpg").read_bytes() == b"my photo"
    assert Config.load(out / "config.json") == other

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "settings"}')
    (mine / "history.csv").write_text("step\n1\n")
    other.save(tmp_path / "tiny.json")
    assert_one_line_error(cli("train", "--data", celeba_dir, "--out", mine, "--config",
                              tmp_path / "tiny.json", "--overwrite"),
                          "config.json was not written by dcgan-sr train")
    assert (mine / "config.json").read_text() == '{"my": "settings"}' and (mine / "history.csv").exists()

    # A user's own history.csv (not a run's columns) stops it too, alone in the folder.
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "history.csv").write_text("date,weight\n2025-01-01,70\n")
    assert_one_line_error(cli("train", "--data", celeba_dir, "--out", theirs, "--config",
                              tmp_path / "tiny.json", "--overwrite"),
                          "history.csv was not written by dcgan-sr train")
    assert (theirs / "history.csv").read_text() == "date,weight\n2025-01-01,70\n"


def test_init_generator_starts_g_from_given_weights_and_refuses_another_architecture(
        tmp_path, finished_run, tiny_config, celeba_dir):
    source = finished_run[0] / "generator.weights.h5"
    expected = load_generator(source).get_weights()
    seen = []

    class FirstWeights(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            if not seen:
                seen.append(self.model.generator.get_weights())

    config = dataclasses.replace(tiny_config, steps=2, pretrain_steps=2,
                                 init_generator=str(source))
    train(config, celeba_dir, tmp_path / "tuned", verbose=0, callbacks=[FirstWeights()])
    assert all(np.array_equal(a, b) for a, b in zip(seen[0], expected, strict=True))
    assert Config.load(tmp_path / "tuned" / "config.json").init_generator == str(source)

    wider = dataclasses.replace(config, gen_res_filters=(8, 8, 8))
    with pytest.raises(UserError, match="gen_res_filters"):
        train(wider, celeba_dir, tmp_path / "wider", verbose=0)


def test_keep_generators_keeps_g_at_every_checkpoint_loadable_with_the_runs_config(
        tmp_path, tiny_config, celeba_dir):
    out = tmp_path / "run"
    train(tiny_config, celeba_dir, out, verbose=0, keep_generators=True)
    kept = sorted(p.name for p in (out / "generators").iterdir())
    assert kept == [f"step_{s:07d}.weights.h5" for s in (2, 4, 6)]
    last = load_generator(out / "generators" / "step_0000006.weights.h5")  # config: the run's
    final = load_generator(out / "generator.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(last.get_weights(), final.get_weights()))
    warm_up = load_generator(out / "generators" / "step_0000002.weights.h5")
    exported = load_generator(out / "generator_mse.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(warm_up.get_weights(), exported.get_weights()))
