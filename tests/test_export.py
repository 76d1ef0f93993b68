"""`dcgan-sr export`: each format, loaded in its own runtime, upscales faces of two sizes
as the Keras model does (uint8 pixels in and out, any height and width)."""

import re

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import REPO, assert_one_line_error
from dcgan_sr.pixels import from_model, to_model
from dcgan_sr.export import export, pixels_model
from dcgan_sr.presets import load_generator

SIZES = [(32, 32), (20, 28)]  # height, width


@pytest.fixture(scope="module")
def faces(sample_files):
    """A face at each size, as uint8 batches of one."""
    with Image.open(sample_files[0]) as image:
        return [np.asarray(image.convert("RGB").resize((w, h), Image.BICUBIC))[None]
                for h, w in SIZES]


@pytest.fixture(scope="module")
def generator():
    return load_generator("real")


def run_saved_model(path, lr):
    loaded = tf.saved_model.load(str(path))
    return loaded.serve(tf.constant(lr)).numpy()


def run_onnx(path, lr):
    import onnxruntime
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: lr})[0]


def run_litert(path, lr):
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(path))
    source = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(source, lr.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(source, lr)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


RUNTIMES = {"saved_model": run_saved_model, "onnx": run_onnx, "litert": run_litert}
NAMES = {"saved_model": "real_saved_model", "onnx": "real.onnx", "litert": "real.tflite"}


@pytest.mark.parametrize("fmt", RUNTIMES)
def test_each_format_in_its_runtime_matches_keras(tmp_path, generator, faces, fmt):
    path = export(generator, fmt, tmp_path / NAMES[fmt])
    assert [p.name for p in tmp_path.iterdir()] == [NAMES[fmt]]  # no partial file left
    for lr in faces:
        keras_sr = from_model(generator(to_model(lr), training=False))
        exported = RUNTIMES[fmt](path, lr)
        assert exported.dtype == np.uint8 and exported.shape == keras_sr.shape == (
            1, 4 * lr.shape[1], 4 * lr.shape[2], 3)
        difference = np.abs(exported.astype(int) - keras_sr.astype(int)).max()
        print(f"{fmt} {lr.shape[1]}x{lr.shape[2]}: max difference {difference} grey levels")
        assert difference <= 1, difference


def test_the_pixels_model_is_the_api_convention(generator, faces):
    lr = faces[1]
    assert np.array_equal(np.asarray(pixels_model(generator)(lr)),
                          from_model(generator(to_model(lr), training=False)))


def test_an_existing_out_is_refused_and_left_alone(cli, tmp_path):
    (tmp_path / "taken.onnx").write_text("a user's file")
    result = cli("export", "--format", "onnx", "--out", tmp_path / "taken.onnx")
    assert_one_line_error(result, "taken.onnx exists")
    assert (tmp_path / "taken.onnx").read_text() == "a user's file"
    assert_one_line_error(cli("export", "--format", "litert", "--out", tmp_path / "real.tfl"),
                          "writes a .tflite file")


@pytest.mark.parametrize("shape", [(2, 7, 9, 3), (1, 1, 1, 3), (1, 3, 2, 1)])
def test_convolutional_bicubic_equals_tensorflows_resize(shape):
    from dcgan_sr.resize import upscale_bicubic_tf
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    expected = tf.image.resize(x, (4 * shape[1], 4 * shape[2]), method="bicubic").numpy()
    np.testing.assert_allclose(upscale_bicubic_tf(tf.constant(x)).numpy(), expected, atol=1e-6)


def test_the_usage_pages_onnx_example_runs(tmp_path, generator, monkeypatch):
    usage = (REPO / "docs" / "usage.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", usage, flags=re.S) if "onnxruntime" in b)
    export(generator, "onnx", tmp_path / "real.onnx")
    monkeypatch.chdir(REPO)
    scope = {}
    exec(compile(block.replace('"real.onnx"', repr(str(tmp_path / "real.onnx"))), "docs/usage.md", "exec"),
         scope)
    assert scope["big"].shape == (128, 128, 3) and scope["big"].dtype == np.uint8


@pytest.mark.parametrize("fmt", RUNTIMES)
def test_a_batch_of_no_images_is_as_the_docs_say(tmp_path, generator, fmt):
    """The docs promised any N; N = 0 is refused by two runtimes, and the docs now say so."""
    path = export(generator, fmt, tmp_path / NAMES[fmt])
    empty = np.zeros((0, 32, 32, 3), np.uint8)
    try:
        result = RUNTIMES[fmt](path, empty)
    except Exception:  # noqa: BLE001 - each runtime refuses it in its own way
        assert fmt in ("saved_model", "litert")
    else:
        assert fmt == "onnx" and len(result) == 0
    from dcgan_sr import export as module
    assert "any N >= 1" in module.__doc__ and "(N = 0) is not a call to make" in module.__doc__


def test_an_export_that_cannot_be_written_names_the_users_path(tmp_path, generator, monkeypatch):
    """A read-only folder was reported as `.partial-<name>`, the temporary name."""
    out = tmp_path / "real.onnx"

    def refused(self, filepath, **kwargs):
        raise PermissionError(13, "Permission denied", filepath)
    monkeypatch.setattr(type(pixels_model(generator)), "export", refused)
    with pytest.raises(OSError) as error:
        export(generator, "onnx", out)
    assert error.value.filename == str(out)
