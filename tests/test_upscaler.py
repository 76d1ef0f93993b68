import numpy as np
import pytest
from PIL import Image

from dcgan_sr import Upscaler, upscaler
from dcgan_sr.upscaler import upscale_array
from dcgan_sr.errors import UserError
from conftest import random_image


@pytest.fixture(scope="module")
def up(tiny_weights):
    return Upscaler(tiny_weights)


def test_what_goes_in_comes_out(up, tmp_path):
    rgb = random_image((10, 12, 3))
    out = up(rgb)
    assert isinstance(out, np.ndarray) and out.shape == (40, 48, 3) and out.dtype == np.uint8
    assert np.array_equal(out, upscale_array(up.generator, rgb, route=up.route))  # the one tiled path
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
    assert np.array_equal(up.batch(np.stack(faces)), np.stack(batch))  # an array in, an array out
    mixed = up.batch([random_image((8, 8, 3)), random_image((6, 9))])
    assert mixed[0].shape == (32, 32, 3) and mixed[1].shape == (24, 36)


def test_bad_arrays_are_refused(up):
    with pytest.raises(ValueError, match="expected a uint8"):
        up(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="expected a uint8"):
        up(np.zeros((8, 8, 2), np.uint8))


def test_auto_runs_the_fastest_installed_route_and_the_routes_agree(up, tiny_weights, monkeypatch):
    """ONNX Runtime where it is installed (requirements.txt installs it), else Keras; the two
    differ by at most one grey level, on a tiny share of pixels."""
    assert up.runtime == ("onnxruntime" if upscaler.onnx_available() else "keras")
    in_keras = Upscaler(tiny_weights, runtime="keras")
    face = random_image((40, 36, 3), seed=3)
    assert np.array_equal(in_keras(face), upscale_array(in_keras.generator, face))
    if up.runtime == "onnxruntime":
        diff = np.abs(up(face).astype(int) - in_keras(face).astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    monkeypatch.setattr(upscaler, "onnx_available", lambda: False)
    assert Upscaler(tiny_weights).runtime == "keras"
    with pytest.raises(UserError, match="pip install onnxruntime"):
        Upscaler(tiny_weights, runtime="onnxruntime")
    with pytest.raises(ValueError, match="runtime must be one of"):
        Upscaler(tiny_weights, runtime="tensorrt")


@pytest.mark.parametrize("bad", [0, -2.0, 16.5, float("nan"), float("inf"), "4", True])
def test_outscale_is_checked_on_every_call_before_the_network_runs(bad, monkeypatch):
    from dcgan_sr import upscaler as module

    up = module.Upscaler("real", runtime="keras")
    monkeypatch.setattr(module, "upscale_array", lambda *a, **k: pytest.fail("the network ran"))
    face = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="outscale must be a number above 0 and at most 16"):
        up(face, outscale=bad)
    with pytest.raises(ValueError, match="outscale must be a number above 0 and at most 16"):
        up.batch([face], outscale=bad)
    with pytest.raises(ValueError, match="outscale must be a number above 0 and at most 16"):
        module.Upscaler("real", outscale=bad, runtime="keras")


def test_batch_takes_any_iterable_once(up):
    """A generator of images (or of PIL images) was consumed by the size check and gave []."""
    faces = [random_image((8, 8, 3), seed=1), random_image((6, 10, 3), seed=2)]
    expected = [up(face) for face in faces]
    for given in ((f for f in faces), iter(faces), (Image.fromarray(f) for f in faces)):
        results = up.batch(given)
        assert len(results) == 2
        for result, want in zip(results, expected):
            assert np.array_equal(np.asarray(result), want)


def test_the_edge_cases_of_the_api_keep_their_promises(up):
    import pickle
    empty = up.batch(np.zeros((0, 32, 32, 3), np.uint8))
    assert empty.shape == (0, 128, 128, 3) and empty.dtype == np.uint8
    assert up.batch(np.zeros((0, 8, 10, 3), np.uint8), outscale=2).shape == (0, 16, 20, 3)
    assert up.batch([]) == []
    for tile in (32.0, "64", True, 8):
        with pytest.raises(ValueError, match="tile must be a whole number of input pixels"):
            Upscaler(up.generator, tile=tile)
    with pytest.raises(ValueError, match="an empty image"):
        up(np.zeros((0, 10, 3), np.uint8), outscale=2)
    again = pickle.loads(pickle.dumps(up))
    face = random_image((8, 8, 3))
    assert np.array_equal(again(face), up(face))
