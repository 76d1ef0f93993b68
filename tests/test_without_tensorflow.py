"""The JAX backend needs no TensorFlow (README, "Two backends"), and the GPU machines
(benchmarks/gpu_check.sh) have JAX and no TensorFlow. This test keeps that promise true:
a virtual environment holding every package of this one except TensorFlow and what only
it needs, where a tiny run trains, resumes and upscales through the CLI, as gpu_check.sh
does on a GPU."""

import importlib.util
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# TensorFlow and the packages that exist only for it; and this checkout's editable install
# (the source goes on PYTHONPATH instead, as in gpu_check.sh).
LEFT_OUT = ("tensorflow", "tensorboard", "tf2onnx", "tf_keras", "__editable__", "dcgan_sr")


@pytest.fixture(scope="module")
def python_without_tensorflow(tmp_path_factory):
    if importlib.util.find_spec("jax") is None:
        (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)("JAX is not installed")
    venv = tmp_path_factory.mktemp("venv") / "no-tf"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    here = Path(sysconfig.get_paths()["purelib"])
    there = venv / "lib" / here.parent.name / "site-packages"
    for entry in here.iterdir():
        if not entry.name.lower().startswith(LEFT_OUT):
            (there / entry.name).symlink_to(entry)
    return venv / "bin" / "python"


def _run(python, *args, cwd):
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(REPO / "src"),
               PYTHONUNBUFFERED="1")
    return subprocess.run([str(python), *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_train_resume_and_upscale_on_jax_without_tensorflow(python_without_tensorflow, tmp_path,
                                                            tiny_config, celeba_dir, sample_files):
    python = python_without_tensorflow
    check = _run(python, "-c", "import importlib.util as u, keras; "
                 "print(u.find_spec('tensorflow'), keras.backend.backend())", cwd=tmp_path)
    assert check.stdout.split() == ["None", "jax"], check.stderr[-2000:]

    tiny_config.save(tmp_path / "tiny.json")
    train = ["-m", "dcgan_sr.cli", "train", "--data", celeba_dir, "--out", tmp_path / "run",
             "--config", tmp_path / "tiny.json"]
    first = _run(python, *train, "--steps", 4, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "TensorFlow is not installed" in first.stderr
    resumed = _run(python, *train, "--steps", 6, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stderr and "from step 4" in resumed.stderr

    up = _run(python, "-m", "dcgan_sr.cli", "upscale", sample_files[0], "--out", tmp_path / "up",
              "--weights", tmp_path / "run" / "generator.weights.h5", cwd=tmp_path)
    assert up.returncode == 0, up.stderr[-3000:]
    with Image.open(tmp_path / "up" / f"{sample_files[0].stem}.png") as result, \
            Image.open(sample_files[0]) as source:
        assert result.size == (4 * source.width, 4 * source.height)
