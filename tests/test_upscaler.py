import numpy as np
import pytest
from PIL import Image

from dcgan_sr import Upscaler
from dcgan_sr.upscale import upscale_array
from conftest import random_image


@pytest.fixture(scope="module")
def up(tiny_weights):
    return Upscaler(tiny_weights)


def test_what_goes_in_comes_out(up, tmp_path):
    rgb = random_image((10, 12, 3))
    out = up(rgb)
    assert isinstance(out, np.ndarray) and out.shape == (40, 48, 3) and out.dtype == np.uint8
    assert np.array_equal(out, upscale_array(up.generator, rgb))  # the one tiled code path
    pil = up(Image.fromarray(rgb))
    assert isinstance(pil, Image.Image) and pil.size == (48, 40) and np.array_equal(np.asarray(pil), out)
    Image.fromarray(rgb).save(tmp_path / "face.png")
    assert np.array_equal(np.asarray(up(tmp_path / "face.png")), out)


def test_greyscale_stays_grey_and_alpha_is_kept(up):
    grey = random_image((8, 8))
    assert up(grey).shape == (32, 32) and up(Image.fromarray(grey)).mode == "L"
    rgba = random_image((8, 8, 4))
    rgba[..., 3] = 0
    rgba[:4, :, 3] = 255  # top half opaque, bottom transparent
    out = up(rgba)
    assert out.shape == (32, 32, 4)
    assert out[:12, :, 3].min() >= 250 and out[20:, :, 3].max() <= 5
    assert np.array_equal(out[..., :3], up(np.ascontiguousarray(rgba[..., :3])))
    assert up(Image.fromarray(rgba)).mode == "RGBA"


@pytest.mark.parametrize("outscale, size", [(2, (16, 20)), (3, (24, 30)), (8, (64, 80)), (4, (32, 40))])
def test_outscale_gives_any_final_scale(up, outscale, size):
    out = up(random_image((10, 8, 3)), outscale=outscale)
    assert out.shape[:2] == (size[1], size[0])


def test_batch_matches_one_by_one(up):
    faces = [random_image((8, 8, 3), seed=s) for s in range(3)]
    batch = up.batch(faces)
    for face, result in zip(faces, batch):
        assert np.abs(result.astype(int) - up(face).astype(int)).max() <= 1
    mixed = up.batch([random_image((8, 8, 3)), random_image((6, 9))])
    assert mixed[0].shape == (32, 32, 3) and mixed[1].shape == (24, 36)


def test_bad_arrays_are_refused(up):
    with pytest.raises(ValueError, match="expected a uint8"):
        up(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="expected a uint8"):
        up(np.zeros((8, 8, 2), np.uint8))
