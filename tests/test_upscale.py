import numpy as np
import pytest
from PIL import Image

from dcgan_sr.models import build_generator
from dcgan_sr.upscale import read_rgb, receptive_margin, upscale_array, upscale_files
from conftest import random_image


@pytest.fixture(scope="module")
def generator(tiny_config):
    return build_generator(tiny_config)


def test_receptive_margin_of_the_seed_generator():
    from dcgan_sr.config import Config
    # 7x7 head (3) + 12 3x3 convs (12) + 3x3 at 2x (0.5) + 9x9 at 4x (1) = 16.5 -> 17
    assert receptive_margin(build_generator(Config())) == 17


@pytest.mark.parametrize("shape", [(1, 1, 3), (13, 29, 3), (32, 32, 3)])
def test_any_size_is_upscaled_4x(generator, shape):
    assert upscale_array(generator, random_image(shape)).shape == (4 * shape[0], 4 * shape[1], 3)


def test_tiled_output_is_seamless_and_equals_whole_image(generator):
    image = random_image((70, 90, 3), seed=3)
    whole = upscale_array(generator, image, tile=1000)
    tiled = upscale_array(generator, image, tile=24)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1
    # Without the margin the tiles would show seams: the check above can fail.
    seamed = upscale_array(generator, image, tile=24, margin=0)
    assert np.abs(whole.astype(int) - seamed.astype(int)).max() > 1


@pytest.mark.parametrize("mode, note", [("L", "L converted"), ("RGBA", "transparency put on white"),
                                        ("P", "P converted"), ("I;16", "greyscale converted")])
def test_other_modes_become_rgb_with_a_note(tmp_path, mode, note):
    rgb = Image.fromarray(random_image((8, 8, 3)))
    image = {"L": rgb.convert("L"), "RGBA": rgb.convert("RGBA"), "P": rgb.convert("P"),
             "I;16": Image.fromarray((random_image((8, 8)).astype(np.uint16) * 257))}[mode]
    path = tmp_path / f"in_{mode.replace(';', '')}.png"
    image.save(path)
    array, message = read_rgb(path)
    assert array.shape == (8, 8, 3) and array.dtype == np.uint8
    assert note in message


def test_folder_upscale_reports_bad_files_and_never_touches_inputs(tmp_path, generator):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(random_image((10, 12, 3))).save(inputs / "face.png")
    Image.fromarray(random_image((9, 9, 3))).save(inputs / "odd.jpg")
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    before = {p.name: p.read_bytes() for p in inputs.iterdir()}
    lines = []
    report = upscale_files(generator, [inputs], tmp_path / "out", say=lines.append)
    assert sorted(p.name for p in report.written) == ["face.png", "odd.png"]
    assert len(report.failed) == 1 and "broken.png" in report.failed[0]
    assert Image.open(tmp_path / "out" / "face.png").size == (48, 40)
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before
    # Output folder == input folder: face.png would overwrite its own input, and is refused.
    report = upscale_files(generator, [inputs / "face.png"], inputs, say=lines.append)
    assert report.failed and "would overwrite an input" in report.failed[0]
    assert (inputs / "face.png").read_bytes() == before["face.png"]
    # A second run skips what exists, unless told to overwrite.
    again = upscale_files(generator, [inputs / "odd.jpg"], tmp_path / "out", say=lines.append)
    assert again.skipped and not again.written
    assert upscale_files(generator, [inputs / "odd.jpg"], tmp_path / "out", overwrite=True,
                         say=lines.append).written
