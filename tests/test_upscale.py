import os

import numpy as np
import pytest
from PIL import Image

from dcgan_sr.models import build_generator
from dcgan_sr.pixels import to_rgb
from dcgan_sr.pixels import read_image
from dcgan_sr.upscale import upscale_files
from dcgan_sr.upscaler import receptive_margin, upscale_array
from dcgan_sr.upscaler import Upscaler
from conftest import random_image


@pytest.fixture(scope="module")
def generator(tiny_config):
    return build_generator(tiny_config)


def _reach_by_impulse(generator, n: int = 48) -> int:
    """The farthest input pixel, from an output pixel's own, that changes that output:
    one input pixel moved on a random image (random, so that no activation is flat)."""
    x = np.random.default_rng(0).uniform(-1, 1, (1, n, n, 3)).astype(np.float32)
    before = generator.predict(x, verbose=0)[0]
    x[0, n // 2, n // 2] += 0.5
    changed = np.abs(generator.predict(x, verbose=0)[0] - before).max(axis=2) > 0
    rows, cols = np.nonzero(changed)
    return int(max(np.abs(rows // 4 - n // 2).max(), np.abs(cols // 4 - n // 2).max()))


@pytest.mark.parametrize("name", ["seed", "mse", "gan", "real"])
def test_receptive_margin_is_exact_for_the_seed_generator_and_every_preset(name):
    """The tiling margin equals the reach measured through the network (the presets'
    pixel-shuffle upsampling included): no seams, and no pixel computed in vain."""
    from dcgan_sr.config import Config
    from dcgan_sr.presets import load_generator
    generator = build_generator(Config()) if name == "seed" else load_generator(name)
    assert receptive_margin(generator) == _reach_by_impulse(generator)
    # `real`'s 3x3 output convolution reaches one LR pixel less than the others' 9x9
    assert receptive_margin(generator) == {"seed": 17, "real": 17}.get(name, 18)


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


# mode -> (shape upscale reads it as, its note; shape training reads it as, its note)
MODES = {"L": ((8, 8), None, (8, 8, 3), "greyscale converted to RGB"),
         "RGBA": ((8, 8, 4), "alpha upscaled by bicubic", (8, 8, 3), "transparency put on white"),
         "P": ((8, 8, 3), "P converted to RGB", (8, 8, 3), "P converted to RGB"),
         "I;16": ((8, 8), "greyscale scaled to 8 bits", (8, 8, 3), "greyscale scaled to 8 bits")}


@pytest.mark.parametrize("mode", MODES)
def test_upscale_keeps_grey_and_alpha_and_training_gets_rgb(tmp_path, mode):
    rgb = Image.fromarray(random_image((8, 8, 3)))
    image = {"L": rgb.convert("L"), "RGBA": rgb.convert("RGBA"), "P": rgb.convert("P"),
             "I;16": Image.fromarray((random_image((8, 8)).astype(np.uint16) * 257))}[mode]
    path = tmp_path / f"in_{mode.replace(';', '')}.png"
    image.save(path)
    upscale_shape, upscale_note, train_shape, train_note = MODES[mode]
    array, message = read_image(path)
    assert array.shape == upscale_shape and array.dtype == np.uint8
    assert message == upscale_note or upscale_note in message
    with Image.open(path) as opened:
        array, message = to_rgb(opened)
    assert array.shape == train_shape and array.dtype == np.uint8 and train_note in message


def test_upscale_options_name_format_scale_and_mirror_folders(tmp_path, generator):
    inputs = tmp_path / "in"
    (inputs / "a").mkdir(parents=True)
    (inputs / "b").mkdir()
    Image.fromarray(random_image((10, 12, 3))).save(inputs / "a" / "face.png")
    Image.fromarray(random_image((6, 8, 4), seed=1), "RGBA").save(inputs / "b" / "face.png")
    Image.fromarray(random_image((5, 5))).save(inputs / "top.png")
    lines = []
    report = upscale_files(Upscaler(generator, outscale=2), [inputs], tmp_path / "out", ext="webp",
                           suffix="_x2", recursive=True, say=lines.append)
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in report.written) == [
        "a/face_x2.webp", "b/face_x2.webp", "top_x2.webp"], lines
    with Image.open(tmp_path / "out" / "a" / "face_x2.webp") as a:
        assert a.size == (24, 20) and a.mode == "RGB"
    with Image.open(tmp_path / "out" / "b" / "face_x2.webp") as b:
        assert b.size == (16, 12) and b.mode == "RGBA"
    with Image.open(tmp_path / "out" / "top_x2.webp") as top:
        assert top.size == (10, 10) and top.mode in ("L", "RGB")  # WebP stores grey as RGB
    # Without --recursive, subfolders are not entered; JPEG puts the alpha on white, saying so.
    lines = []
    report = upscale_files(Upscaler(generator), [inputs / "b" / "face.png"], tmp_path / "jpg",
                           ext="jpg", say=lines.append)
    with Image.open(report.written[0]) as out:
        assert out.size == (32, 24) and out.mode == "RGB"
    assert "JPEG has no alpha: put on white" in lines[-1]
    assert [p.name for p in upscale_files(Upscaler(generator), [inputs], tmp_path / "flat",
                                          say=lambda _: None).written] == ["top.png"]


def test_grey_stays_grey_as_png(tmp_path, generator):
    Image.fromarray(random_image((7, 9))).save(tmp_path / "grey.png")
    report = upscale_files(Upscaler(generator), [tmp_path / "grey.png"], tmp_path / "out",
                           say=lambda _: None)
    with Image.open(report.written[0]) as out:
        assert out.mode == "L" and out.size == (36, 28)


def test_folder_upscale_reports_bad_files_and_never_touches_inputs(tmp_path, generator):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(random_image((10, 12, 3))).save(inputs / "face.png")
    Image.fromarray(random_image((9, 9, 3))).save(inputs / "odd.jpg")
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    before = {p.name: p.read_bytes() for p in inputs.iterdir()}
    lines = []
    report = upscale_files(Upscaler(generator), [inputs], tmp_path / "out", say=lines.append)
    assert sorted(p.name for p in report.written) == ["face.png", "odd.png"]
    assert len(report.failed) == 1 and "broken.png" in report.failed[0]
    assert Image.open(tmp_path / "out" / "face.png").size == (48, 40)
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before
    # Output folder == input folder: face.png would overwrite its own input, and is refused.
    report = upscale_files(Upscaler(generator), [inputs / "face.png"], inputs, say=lines.append)
    assert report.failed and "would overwrite an input" in report.failed[0]
    assert (inputs / "face.png").read_bytes() == before["face.png"]
    # A second run skips what exists, unless told to overwrite.
    again = upscale_files(Upscaler(generator), [inputs / "odd.jpg"], tmp_path / "out", say=lines.append)
    assert again.skipped and not again.written
    assert upscale_files(Upscaler(generator), [inputs / "odd.jpg"], tmp_path / "out", overwrite=True,
                         say=lines.append).written


def test_a_dark_16_bit_image_stays_dark_and_a_float_tiff_keeps_its_scale(tmp_path):
    dark = (np.arange(64).reshape(8, 8) * 3).astype(np.uint16)  # 0..189 of 65535: near black
    Image.fromarray(dark).save(tmp_path / "dark16.png")
    array, note = read_image(tmp_path / "dark16.png")
    assert array.max() <= 1 and "scaled to 8 bits" in note
    unit = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    Image.fromarray(unit).save(tmp_path / "float.tif")
    array, _ = read_image(tmp_path / "float.tif")  # greyscale: read as H x W
    assert array.shape == (8, 8) and array[0, 0] == 0 and array[-1, -1] == 255 and 120 <= array[4, 0] <= 135


def test_exif_orientation_is_applied_with_a_note(tmp_path):
    portrait = random_image((20, 10, 3))  # 10 wide, 20 tall, as the camera meant it
    stored = Image.fromarray(portrait).transpose(Image.Transpose.ROTATE_90)  # stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    stored.save(tmp_path / "phone.png", exif=exif)
    array, note = read_image(tmp_path / "phone.png")
    assert array.shape == (20, 10, 3) and "EXIF orientation" in note
    assert np.array_equal(array, portrait)  # the same picture, upright


def test_an_animated_gif_says_which_frame_is_used(tmp_path):
    frames = [Image.fromarray(random_image((8, 8, 3), seed=s)).convert("P") for s in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    _, note = read_image(tmp_path / "anim.gif")
    assert "first of 3 frames" in note


def test_webp_and_tiff_are_found_in_folders_as_when_named(tmp_path, generator):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.webp", "b.tif", "c.tiff"):
        Image.fromarray(random_image((6, 6, 3))).save(inputs / name)
    report = upscale_files(Upscaler(generator), [inputs], tmp_path / "out", say=lambda _: None)
    assert sorted(p.name for p in report.written) == ["a.png", "b.png", "c.png"]


def test_overwrite_never_replaces_a_file_the_tool_did_not_write(tmp_path, generator):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(random_image((8, 8, 3))).save(folder / "a.jpg")
    Image.fromarray(random_image((9, 9, 3), seed=1)).save(folder / "a.png")  # the user's own
    original = (folder / "a.png").read_bytes()
    report = upscale_files(Upscaler(generator), [folder / "a.jpg"], folder, overwrite=True,
                           say=lambda _: None)
    assert report.failed and "was not written by dcgan-sr" in report.failed[0]
    assert (folder / "a.png").read_bytes() == original
    # Its own outputs it may redo; and they are not taken as inputs on a second run.
    (folder / "a.png").unlink()
    assert upscale_files(Upscaler(generator), [folder / "a.jpg"], folder, say=lambda _: None).written
    assert upscale_files(Upscaler(generator), [folder / "a.jpg"], folder, overwrite=True,
                         say=lambda _: None).written
    again = upscale_files(Upscaler(generator), [folder], folder, say=lambda _: None)
    assert not again.failed and again.skipped == [folder / "a.png"]


def test_an_output_path_that_is_a_file_fails_before_any_work(tmp_path, generator):
    Image.fromarray(random_image((8, 8, 3))).save(tmp_path / "a.jpg")
    (tmp_path / "out").write_text("a user's file")
    with pytest.raises(OSError):
        upscale_files(Upscaler(generator), [tmp_path / "a.jpg"], tmp_path / "out", say=lambda _: None)
    assert (tmp_path / "out").read_text() == "a user's file"


def test_an_output_too_large_for_its_format_fails_that_file_alone(tmp_path, generator):
    """WebP holds at most 16,383 pixels a side, JPEG 65,500: such a file is refused by name
    before any work, and the rest of the batch goes on (WebP's ValueError stopped it)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(np.zeros((8, 4100, 3), np.uint8)).save(inputs / "a_wide.png")  # 16,400 px out
    Image.fromarray(random_image((20, 24, 3))).save(inputs / "b_face.png")
    lines = []
    report = upscale_files(Upscaler(generator), [inputs], tmp_path / "out", ext="webp", say=lines.append)
    assert [p.name for p in report.written] == ["b_face.webp"]
    assert len(report.failed) == 1 and "a_wide.png: the output, 16400x32, is over WEBP's 16,383-pixel " \
        "limit; use --ext png" in report.failed[0]
    wide_jpeg = upscale_files(Upscaler(generator, outscale=16), [inputs / "a_wide.png"], tmp_path / "jpg",
                              ext="jpg", say=lines.append)
    assert "over JPG's 65,500-pixel limit" in wide_jpeg.failed[0] and not wide_jpeg.written


def test_the_collision_message_suggests_recursive_only_without_it(tmp_path, generator):
    inputs = tmp_path / "in"
    (inputs / "x").mkdir(parents=True)
    for where in (inputs, inputs / "x"):
        Image.fromarray(random_image((20, 24, 3))).save(where / "face.png")
    flat = upscale_files(Upscaler(generator), [inputs / "face.png", inputs / "x" / "face.png"],
                         tmp_path / "out", say=lambda _: None)
    assert "pass --recursive" in flat.failed[0]
    named = upscale_files(Upscaler(generator), [inputs / "face.png", inputs / "x" / "face.png"],
                          tmp_path / "out2", recursive=True, say=lambda _: None)
    assert named.failed and "--recursive" not in named.failed[0]


@pytest.mark.parametrize("mode, colour, expected, alpha", [
    ("LAB", (136, 209, 198), (250, 2, 4), False),     # L 53, a 81, b 70: red, and no alpha
    ("HSV", (0, 255, 255), (255, 0, 0), False),
    ("YCbCr", (76, 85, 255), (254, 0, 0), False),
    ("CMYK", (0, 255, 255, 0), (255, 0, 0), False),
    ("RGBX", (255, 0, 0, 0), (255, 0, 0), False),
    ("1", 1, (255, 255, 255), False),
    ("LA", (100, 128), (100, 100, 100), True),
    ("La", (100, 128), (199, 199, 199), True),          # premultiplied: 100 / 128 * 255
    ("RGBa", (100, 50, 20, 128), (199, 99, 39), True),
    ("PA", None, (0, 0, 0), True),
])
def test_every_colour_mode_family_is_converted_deliberately(mode, colour, expected, alpha):
    """Each Pillow mode family gives the right colours, and transparency only where the mode
    has it (a LAB image came back RGBA, its colour channel taken for alpha)."""
    from dcgan_sr.pixels import to_array, to_rgb

    image = Image.new(mode, (4, 4), colour) if colour is not None else Image.new(mode, (4, 4))
    array, _ = to_array(image)
    assert array.shape == ((4, 4, 4) if alpha else (4, 4, 3)), array.shape
    assert np.abs(array[0, 0, :3].astype(int) - expected).max() <= 2, array[0, 0]
    assert to_rgb(image)[0].shape == (4, 4, 3)


def test_recursive_upscale_never_takes_an_earlier_runs_outputs_as_inputs(tmp_path, generator):
    """photos/ upscaled into photos/up1, then into photos/up2 with --recursive: the second
    run upscales the photo, not the first run's output again (it did, as up1/face)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(random_image((20, 24, 3))).save(photos / "face.png")
    first = upscale_files(Upscaler(generator), [photos], photos / "up1", recursive=True, say=lambda _: None)
    assert [p.relative_to(photos).as_posix() for p in first.written] == ["up1/face.png"]
    second = upscale_files(Upscaler(generator), [photos], photos / "up2", recursive=True, say=lambda _: None)
    assert [p.relative_to(photos).as_posix() for p in second.written] == ["up2/face.png"]
    assert not second.failed


def test_two_writers_lose_no_manifest_entry(tmp_path):
    """Two upscale runs into one --out at once: every output each wrote stays listed as its
    own (entries were lost, and the next run then refused those files as the user's)."""
    import threading

    from dcgan_sr import upscale

    names = [[f"w{w}_{i}.png" for i in range(60)] for w in range(4)]
    def write(batch):
        for n in batch:
            upscale._record_output(tmp_path, n, n + "-digest")
    threads = [threading.Thread(target=write, args=(batch,)) for batch in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert upscale._written_before(tmp_path) == {n: n + "-digest" for batch in names for n in batch}


def test_a_folder_where_an_output_would_go_fails_that_file_alone(tmp_path, generator):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a", "b"):
        Image.fromarray(random_image((20, 24, 3))).save(inputs / f"{name}.png")
    (tmp_path / "out" / "a.png").mkdir(parents=True)  # a folder named like a's output
    report = upscale_files(Upscaler(generator), [inputs], tmp_path / "out", say=lambda _: None)
    assert [p.name for p in report.written] == ["b.png"]
    assert "a.png: its output" in report.failed[0] and "is a folder" in report.failed[0]


def test_a_fifo_named_directly_is_said_to_be_one(tmp_path, generator):
    import os

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    report = upscale_files(Upscaler(generator), [fifo], tmp_path / "out", say=lambda _: None)
    assert report.failed == [f"{fifo}: not a regular file (a FIFO, device or socket); name an image file"]


# --- the fourth reliability pass: each test failed before its fix --------------------------

def quiet(**kwargs):
    return dict(say=lambda _: None, **kwargs)


def test_a_users_file_saved_under_an_outputs_name_is_never_overwritten(tmp_path, generator):
    """The manifest listed names only: a user's own a.png, saved where an output a.png had
    been, was overwritten by --overwrite (and left out of the inputs without it)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(random_image((8, 8, 3))).save(photos / "a.jpg")
    up = Upscaler(generator)
    assert upscale_files(up, [photos], photos, **quiet()).written == [photos / "a.png"]
    (photos / "a.png").unlink()
    Image.fromarray(random_image((50, 50, 3), seed=3)).save(photos / "a.png")  # the user's own
    mine = (photos / "a.png").read_bytes()
    report = upscale_files(up, [photos], photos, **quiet(overwrite=True))
    assert (photos / "a.png").read_bytes() == mine and not report.written
    assert any("a.png" in problem for problem in report.failed)
    # and it is an input like any other image of the folder, no longer taken for an output
    report = upscale_files(up, [photos / "a.png", photos], tmp_path / "out", **quiet())
    assert [p.name for p in report.written] == ["a.png"]
    assert np.asarray(Image.open(tmp_path / "out" / "a.png")).shape == (200, 200, 3)


def test_a_full_disk_at_the_manifest_leaves_no_unlisted_output(tmp_path, generator, monkeypatch):
    """The PNG was renamed into place before the manifest was written: a failure between
    the two left an output that every later run refused as "not written by dcgan-sr"."""
    from dcgan_sr import upscale
    Image.fromarray(random_image((8, 8, 3))).save(tmp_path / "f01.jpg")
    real = upscale.write_json_atomic

    def full(path, value, indent=2):
        raise OSError(28, "No space left on device", str(path))
    monkeypatch.setattr(upscale, "write_json_atomic", full)
    with pytest.raises(OSError):
        upscale_files(Upscaler(generator), [tmp_path / "f01.jpg"], tmp_path / "out", **quiet())
    out = tmp_path / "out"
    assert not (out / "f01.png").exists() and not list(out.glob(".tmp-*"))
    monkeypatch.setattr(upscale, "write_json_atomic", real)
    assert upscale_files(Upscaler(generator), [tmp_path / "f01.jpg"], out, **quiet(overwrite=True)).written


def test_what_a_killed_save_left_is_removed_and_live_ones_kept(tmp_path, generator):
    import subprocess
    import sys
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    out = tmp_path / "out"
    out.mkdir()
    (out / f".tmp-{dead}-f01.png").write_bytes(b"half a PNG")
    (out / f".tmp-{os.getpid()}-f02.png").write_bytes(b"being written")  # a live process's
    Image.fromarray(random_image((8, 8, 3))).save(tmp_path / "f01.jpg")
    upscale_files(Upscaler(generator), [tmp_path / "f01.jpg"], out, **quiet())
    assert sorted(p.name for p in out.glob(".tmp-*")) == [f".tmp-{os.getpid()}-f02.png"]


def test_a_name_at_the_file_systems_limit_is_upscaled_and_a_too_long_one_fails_alone(tmp_path, generator):
    """`.tmp-PID-<name>` passed 255 bytes: the whole batch stopped at that file."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    long_stem = "f" * 250  # f...f.jpg: 254 bytes; its output f...f.png too
    for stem in (long_stem, "b"):
        Image.fromarray(random_image((8, 8, 3))).save(inputs / f"{stem}.jpg")
    report = upscale_files(Upscaler(generator), [inputs], tmp_path / "out", **quiet())
    assert sorted(p.name for p in report.written) == ["b.png", f"{long_stem}.png"]
    report = upscale_files(Upscaler(generator), [inputs], tmp_path / "out2", **quiet(suffix="_x4"))
    assert [p.name for p in report.written] == ["b_x4.png"]
    assert len(report.failed) == 1 and "over the file system's 255" in report.failed[0]


@pytest.mark.parametrize("mode", ["RGB", "L", "I;16"])
def test_a_colour_key_is_kept_as_transparency(tmp_path, mode):
    """PNG's tRNS colour key in RGB, L or 16-bit grey came out opaque."""
    if mode == "RGB":
        pixels = random_image((8, 8, 3))
        key = tuple(int(v) for v in pixels[2, 3])
    else:
        pixels = random_image((8, 8)).astype(np.uint16 if mode == "I;16" else np.uint8)
        key = int(pixels[2, 3])
    Image.fromarray(pixels).save(tmp_path / "keyed.png", transparency=key)
    array, note = read_image(tmp_path / "keyed.png")
    keyed = np.all(pixels == np.asarray(key), axis=-1) if mode == "RGB" else pixels == key
    assert array.shape == (8, 8, 4) and "transparency" in note
    assert np.array_equal(array[..., 3] == 0, keyed)


def test_an_icc_profile_is_kept_in_the_output(tmp_path, generator):
    """Outputs lost the input's colour profile: Adobe RGB or Display P3 colours were then
    read as sRGB."""
    from PIL import ImageCms
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # not RGB
    rgb_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(random_image((8, 8, 3))).save(tmp_path / "wide_png.png", icc_profile=rgb_profile)
    Image.fromarray(random_image((8, 8, 3))).save(tmp_path / "wide_jpeg.jpg", icc_profile=rgb_profile)
    Image.fromarray(random_image((8, 8, 3))).save(tmp_path / "lab.jpg", icc_profile=profile)
    names = ("wide_png.png", "wide_jpeg.jpg", "lab.jpg")
    for ext in ("png", "jpg", "webp"):
        lines = []
        report = upscale_files(Upscaler(generator), [tmp_path / n for n in names],
                               tmp_path / ext, ext=ext, say=lines.append)
        assert len(report.written) == 3
        for name in ("wide_png", "wide_jpeg"):
            with Image.open(tmp_path / ext / f"{name}.{ext}") as out:
                assert out.info.get("icc_profile") == rgb_profile
        with Image.open(tmp_path / ext / f"lab.{ext}") as out:
            assert not out.info.get("icc_profile")
        assert any("ICC profile was not kept (the output is RGB)" in line for line in lines)


def test_sixteen_bit_rgb_is_said_to_be_read_as_eight(tmp_path):
    """16-bit RGB and RGBA PNGs were cut to 8 bits without a note (16-bit grey had one)."""
    import struct
    import zlib

    def png16(path, channels):
        colour_type = {3: 2, 4: 6}[channels]
        rows = np.random.default_rng(0).integers(0, 65536, (4, 4 * channels), dtype=np.uint16)
        raw = b"".join(b"\0" + row.astype(">u2").tobytes() for row in rows)

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        header = struct.pack(">IIBBBBB", 4, 4, 16, colour_type, 0, 0, 0)
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                         + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    for channels, mode in ((3, "RGB"), (4, "RGBA")):
        png16(tmp_path / f"deep{channels}.png", channels)
        array, note = read_image(tmp_path / f"deep{channels}.png")
        assert array.shape == (4, 4, channels) and f"16-bit {mode} read as 8 bits" in note
    Image.fromarray(random_image((4, 4, 3))).save(tmp_path / "plain.png")
    assert read_image(tmp_path / "plain.png")[1] is None


@pytest.mark.parametrize("orientation", [0, 9])
def test_an_invalid_exif_orientation_turns_nothing_and_says_nothing(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    pixels = random_image((6, 4, 3))
    Image.fromarray(pixels).save(tmp_path / "odd.png", exif=exif)
    array, note = read_image(tmp_path / "odd.png")
    assert np.array_equal(array, pixels) and note is None


def test_jfif_and_symlinked_folders_are_found(tmp_path, generator):
    """.jfif/.jpe files and, with --recursive, symlinked subfolders were skipped silently."""
    inputs, elsewhere = tmp_path / "in", tmp_path / "elsewhere"
    inputs.mkdir()
    elsewhere.mkdir()
    for path in (inputs / "a.jfif", inputs / "b.jpe", elsewhere / "c.jpg"):
        Image.fromarray(random_image((6, 6, 3))).save(path, format="JPEG")
    (inputs / "linked").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "loop").symlink_to(inputs, target_is_directory=True)  # a cycle: taken once
    report = upscale_files(Upscaler(generator), [inputs], tmp_path / "out", **quiet(recursive=True))
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in report.written) == [
        "a.png", "b.png", "linked/c.png"]


def test_a_file_named_twice_is_upscaled_once(tmp_path, generator):
    """The same file twice, or a file and its own folder: "already the output of" itself."""
    Image.fromarray(random_image((6, 6, 3))).save(tmp_path / "a.jpg")
    report = upscale_files(Upscaler(generator), [tmp_path / "a.jpg", tmp_path / "a.jpg", tmp_path],
                           tmp_path / "out", **quiet())
    assert report.written == [tmp_path / "out" / "a.png"] and not report.failed


def test_write_atomic_names_the_users_path_when_the_temporary_write_fails(tmp_path):
    from dcgan_sr.io import write_atomic

    def fails(tmp):
        raise PermissionError(13, "Permission denied", tmp)
    with pytest.raises(OSError) as error:
        write_atomic(tmp_path / "result.png", fails)
    assert error.value.filename == str(tmp_path / "result.png")
