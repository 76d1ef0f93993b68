import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from dcgan_sr.config import Config

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"


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


def random_image(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
