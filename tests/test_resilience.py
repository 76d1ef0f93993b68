"""Training survives SIGKILL at random points and Ctrl-C, losing at most one checkpoint interval."""

import csv
import dataclasses
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import h5py
import pytest

STEPS, EVERY = 40, 4


def latest_step(out) -> int:
    try:
        return json.loads((out / "checkpoints" / "latest.json").read_text())["step"]
    except (OSError, ValueError):  # none yet, or being replaced right now
        return 0


def start(tmp_path, celeba_dir, config, out):
    config.save(tmp_path / "config.json")
    log = open(tmp_path / f"log-{time.monotonic_ns()}.txt", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "dcgan_sr.cli", "train", "--data", str(celeba_dir),
                             "--out", str(out), "--config", str(tmp_path / "config.json")],
                            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                            # as from a terminal: a shell's background job inherits SIGINT ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return proc, log


def wait_for_checkpoint_after(out, step, proc, timeout=180):
    deadline = time.monotonic() + timeout
    while latest_step(out) <= step and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


def output(log) -> str:
    log.seek(0)
    return log.read()


def test_sigkill_at_random_points_then_resume_to_the_exact_step(tmp_path, celeba_dir, tiny_config):
    config = dataclasses.replace(tiny_config, steps=STEPS, pretrain_steps=10, checkpoint_every=EVERY)
    out = tmp_path / "run"
    rng = random.Random(2)
    kills = []
    for _ in range(3):
        proc, log = start(tmp_path, celeba_dir, config, out)
        before = latest_step(out)
        wait_for_checkpoint_after(out, before, proc)
        time.sleep(rng.uniform(0.0, 0.6))
        if proc.poll() is not None:  # finished before we could kill it
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills.append(latest_step(out))
        # What a kill leaves is readable: the checkpoint it points to loads.
        latest = json.loads((out / "checkpoints" / "latest.json").read_text())
        assert h5py.is_hdf5(out / "checkpoints" / latest["file"])
        if kills[-1] > before and len(kills) > 1:
            assert f"resuming {out} from step {kills[-2]}" in output(log)
    print("checkpoints at each kill:", kills)
    assert len(kills) >= 2, f"too few kills landed: {kills}"
    # And latest.json itself corrupted (a disk that lost its last write): the newest
    # checkpoint in the folder is found by scanning it.
    (out / "checkpoints" / "latest.json").write_text('{"file": "ckpt-00')

    proc, log = start(tmp_path, celeba_dir, config, out)
    assert proc.wait(timeout=300) == 0, output(log)
    text = output(log)
    # It resumed from the checkpoint on disk at the kill: at most one interval was redone.
    assert "latest.json is unreadable" in text
    assert f"resuming {out} from step {kills[-1]}" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps_completed"] == STEPS
    assert (out / "generator.weights.h5").is_file() and (out / "generator_mse.weights.h5").is_file()
    with open(out / "history.csv") as handle:
        steps = [int(float(row["step"])) for row in csv.DictReader(handle)]
    assert len(steps) == len(set(steps)) and steps[-1] == STEPS, steps  # no step twice


@pytest.mark.parametrize("stop, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_saves_a_checkpoint_and_says_how_to_resume(tmp_path, celeba_dir, tiny_config,
                                                                    stop, code):
    """Ctrl-C, and SIGTERM (a scheduler's or `kill`'s polite stop, which ended the run with no
    message and no checkpoint), save after the current step and say how to resume."""
    config = dataclasses.replace(tiny_config, steps=400, pretrain_steps=10, checkpoint_every=EVERY)
    out = tmp_path / "run"
    proc, log = start(tmp_path, celeba_dir, config, out)
    wait_for_checkpoint_after(out, 0, proc)
    proc.send_signal(stop)
    assert proc.wait(timeout=120) == code, output(log)
    text = output(log)
    assert "Traceback" not in text and "stopping after this step" in text
    match = re.search(r"interrupted at step (\d+); checkpoint saved in .*Run the same command again", text)
    assert match, text
    assert latest_step(out) == int(match.group(1))


def test_a_first_ctrl_c_is_a_request_and_a_second_interrupts(ctrl_c_enabled):
    from dcgan_sr.callbacks import StopRequest
    previous = signal.getsignal(signal.SIGINT)
    with StopRequest() as request:
        os.kill(os.getpid(), signal.SIGINT)  # handled before the next line runs
        assert request.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
    assert signal.getsignal(signal.SIGINT) is previous


def test_an_ignored_ctrl_c_stays_ignored():
    from dcgan_sr.callbacks import StopRequest
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a background job
    try:
        with StopRequest() as request:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            assert not request.requested
    finally:
        signal.signal(signal.SIGINT, previous)

