"""`--strategy multiworker`: two worker processes on 127.0.0.1 (Keras's JAX backend, gloo
between CPU processes) train like one process on the same global batches; a worker that
dies stops the other with one line, and starting both again resumes."""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from conftest import assert_one_line_error

from dcgan_sr import execution
from dcgan_sr.errors import UserError

TIMEOUT = 20  # --worker-timeout: seconds before a silent worker is taken as dead


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def train(out, data, config_file, steps, cluster=None, index=0):
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONUNBUFFERED="1")
    args = ["--steps", str(steps)]
    if cluster:
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": cluster},
                                       "task": {"type": "worker", "index": index}})
        args += ["--strategy", "multiworker", "--worker-timeout", str(TIMEOUT)]
    return subprocess.Popen([sys.executable, "-m", "dcgan_sr.cli", "train", "--data", str(data),
                             "--out", str(out), "--config", str(config_file), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process, timeout=300):
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stderr


def weights(path) -> dict:
    found = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, item: found.setdefault(name, item[()])
                     if isinstance(item, h5py.Dataset) else None)
    return found


def test_two_workers_match_one_process_and_resume_after_one_dies(tmp_path, celeba_dir, tiny_config):
    config = dataclasses.replace(tiny_config, pretrain_steps=0, steps=4, checkpoint_every=2)
    config_file = tmp_path / "config.json"
    config.save(config_file)
    cluster = [f"127.0.0.1:{port}" for port in free_ports(2)]
    outs = [tmp_path / "worker0", tmp_path / "worker1"]

    # Worker 1 dies (SIGKILL) just after its step-2 checkpoint: worker 0 must stop on its
    # own, with one line, instead of waiting for it forever.
    workers = [train(out, celeba_dir, config_file, 4, cluster, i) for i, out in enumerate(outs)]
    deadline = time.monotonic() + 240
    while not (outs[1] / "checkpoints" / "ckpt-0000002.json").exists():
        assert workers[1].poll() is None, finish(workers[1])[1]
        assert time.monotonic() < deadline, "worker 1 wrote no checkpoint"
        time.sleep(0.05)
    workers[1].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    code, stderr = finish(workers[0], timeout=TIMEOUT + 60)
    finish(workers[1])
    assert time.monotonic() - killed_at < TIMEOUT + 60
    assert code == 1, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("dcgan-sr: error:")]
    assert len(errors) == 1 and "another worker stopped" in errors[0], stderr
    assert "Start every worker again" in errors[0]

    # What the two workers saved at step 2 (G, D, both optimisers) is what one process
    # saves after the same 2 global batches.
    single = tmp_path / "single"
    code, stderr = finish(train(single, celeba_dir, config_file, 2))
    assert code == 0, stderr
    reference = weights(single / "checkpoints" / "ckpt-0000002.weights.h5")
    for out in outs:
        saved = weights(out / "checkpoints" / "ckpt-0000002.weights.h5")
        assert saved.keys() == reference.keys()
        for name, value in reference.items():
            np.testing.assert_allclose(saved[name], value, atol=1e-4, err_msg=name)

    # The same two commands again: both resume from step 2, finish, and agree.
    workers = [train(out, celeba_dir, config_file, 4, cluster, i) for i, out in enumerate(outs)]
    for out, worker in zip(outs, workers):
        code, stderr = finish(worker)
        assert code == 0, stderr
        assert f"resuming {out} from step 2" in stderr
        assert json.loads((out / "summary.json").read_text())["steps_completed"] == 4
    first, second = (weights(out / "generator.weights.h5") for out in outs)
    assert all(np.array_equal(first[name], second[name]) for name in first)


def test_under_tensorflow_it_says_to_use_jax(tiny_config):
    config = dataclasses.replace(tiny_config, strategy="multiworker")
    with pytest.raises(UserError, match="KERAS_BACKEND=jax"):
        execution.resolve(config)


@pytest.mark.parametrize("tf_config, fragment", [
    (None, "needs TF_CONFIG"),
    ("{not json", "TF_CONFIG is not a cluster spec"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"index": 2}}', "task index 2"),
])
def test_tf_config_names_the_cluster_or_says_how(monkeypatch, tf_config, fragment):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    if tf_config:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(UserError, match=fragment):
        execution.cluster_from_environment()


def test_tf_config_is_read(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}, '
                                    '"task": {"type": "worker", "index": 1}}')
    cluster = execution.cluster_from_environment()
    assert cluster == execution.Cluster(("a:1", "b:2"), 1) and cluster.size == 2


def test_a_global_batch_the_workers_cannot_split_is_one_line(tmp_path, celeba_dir):
    env = dict(os.environ, KERAS_BACKEND="jax",
               TF_CONFIG='{"cluster": {"worker": ["a:1", "b:2", "c:3"]}, "task": {"index": 0}}')
    result = subprocess.run([sys.executable, "-m", "dcgan_sr.cli", "train", "--data", str(celeba_dir),
                             "--out", str(tmp_path / "run"), "--batch-size", "4",
                             "--strategy", "multiworker"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert_one_line_error(result, "--batch-size 4 (the global batch) does not split over 3 workers")
    assert not (tmp_path / "run" / "checkpoints").exists()
