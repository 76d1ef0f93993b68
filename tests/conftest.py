import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from dcgan_sr.config import Config
from dcgan_sr.models import build_generator

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"


@pytest.fixture(scope="session", autouse=True)
def jax_compilation_cache(tmp_path_factory):
    """XLA programs that JAX compiles, kept on disk for this session: processes started
    by the tests (the multi-worker ones, each resumed run) load them instead of compiling
    the same step again."""
    folder = tmp_path_factory.mktemp("jax_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JAX_COMPILATION_CACHE_DIR", str(folder))
        patch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        patch.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
        yield folder


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def sample_files() -> list[Path]:
    return sorted(SAMPLE.glob("*.jpg"))


@pytest.fixture(scope="session")
def tiny_config() -> Config:
    """A generator and discriminator small enough for a few steps on a 2-core CPU."""
    return Config(gen_head_filters=8, gen_res_filters=(8, 8), gen_up_filters=8,
                  disc_head_filters=8, disc_stage_filters=(8, 8, 8, 8), disc_conv_filters=8,
                  disc_dense_units=16, batch_size=4, steps=6, pretrain_steps=2,
                  checkpoint_every=2, val_images=4)


@pytest.fixture(scope="session")
def celeba_dir(tmp_path_factory, sample_files) -> Path:
    """Sample faces renamed into CelebA's train (first 24) and validation (next 8) numbers."""
    folder = tmp_path_factory.mktemp("celeba") / "img_align_celeba"
    folder.mkdir()
    for i, path in enumerate(sample_files[:32]):
        number = 1 + i if i < 24 else 162_771 + i
        shutil.copy(path, folder / f"{number:06d}.jpg")
    return folder


def dcgan_sr(*args, cwd=None):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "dcgan_sr.cli", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def cli(capsys):
    """`dcgan-sr ARGS` in this process, without an interpreter's and TensorFlow's start-up
    (`dcgan_sr` above runs a real process): its exit code and what it printed."""
    from dcgan_sr import cli as command
    package_log = logging.getLogger("dcgan_sr")

    def run(*args):
        saved = list(package_log.handlers), package_log.propagate, package_log.level
        package_log.handlers.clear()  # the command's own handler then prints to captured stderr
        capsys.readouterr()
        try:
            code = command.main([str(a) for a in args])
        except SystemExit as exit:  # argparse's usage errors
            code = exit.code
        finally:
            package_log.handlers[:], package_log.propagate = saved[0], saved[1]
            package_log.setLevel(saved[2])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)
    return run


def assert_one_line_error(result, *fragments, code=2):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [l for l in result.stderr.splitlines() if l.startswith("dcgan-sr: error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_config):
    folder = tmp_path_factory.mktemp("weights")
    build_generator(tiny_config).save_weights(folder / "generator.weights.h5")
    tiny_config.save(folder / "config.json")
    return folder / "generator.weights.h5"


def random_image(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def ctrl_c_enabled():
    """SIGINT handled as in a terminal, even when the tests run as a background job (which
    inherits SIGINT ignored, and training rightly leaves an ignored SIGINT ignored)."""
    import signal
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
