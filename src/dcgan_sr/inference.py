"""How pixels go through a generator: in Keras, or in ONNX Runtime.

A route is a function from a uint8 batch N x H x W x 3 to its uint8 4x batch, rounded as
`data.from_model` rounds. Both routes compute the same network; ONNX Runtime runs it
faster on a CPU (1.60 times Keras on TensorFlow in the README's `make bench` run), and
they differ by at most one grey level, on under 0.1 % of pixels (tests/test_upscaler.py).

    auto          Keras when the Keras backend sees a GPU; otherwise ONNX Runtime when
                  it is installed (with tf2onnx, under the TensorFlow backend); else Keras
    keras         the generator itself, on whatever device the Keras backend uses
    onnxruntime   the generator exported to ONNX (`dcgan-sr export --format onnx`), on the CPU
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from dcgan_sr.data import from_model, to_model
from dcgan_sr.errors import UserError
from dcgan_sr.runtime import installed
from dcgan_sr.vocabulary import RUNTIMES

Route = Callable[[np.ndarray], np.ndarray]


def keras_route(generator: keras.Model) -> Route:
    return lambda lr: from_model(generator(to_model(lr), training=False))


def onnx_available() -> bool:
    return keras.backend.backend() == "tensorflow" and installed("onnxruntime", "tf2onnx", "onnx")


_sessions: dict[str, object] = {}  # one ONNX conversion per generator and weights, per process


def onnx_route(generator: keras.Model) -> Route:
    """`generator` exported to ONNX (about 2 s, once per process and weights), run by
    ONNX Runtime on the CPU."""
    import onnxruntime

    from dcgan_sr.export import export

    key = _fingerprint(generator)
    if key not in _sessions:
        with tempfile.TemporaryDirectory() as tmp:
            model = export(generator, "onnx", Path(tmp) / "generator.onnx").read_bytes()
        _sessions[key] = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    session = _sessions[key]
    name = session.get_inputs()[0].name
    return lambda lr: session.run(None, {name: np.ascontiguousarray(lr, np.uint8)})[0]


def choose(runtime: str) -> str:
    """The route `runtime` ("auto", "keras" or "onnxruntime") names here."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if runtime == "onnxruntime" and not onnx_available():
        raise UserError("the onnxruntime route needs the TensorFlow backend and onnxruntime, "
                        "tf2onnx and onnx: pip install onnxruntime tf2onnx onnx (or use keras)")
    if runtime == "auto":
        from dcgan_sr.runtime import gpus
        return "keras" if gpus() or not onnx_available() else "onnxruntime"
    return runtime


def route(generator: keras.Model, runtime: str) -> Route:
    """The uint8-to-uint8 function of `generator` by route `runtime` (already `choose`n)."""
    return onnx_route(generator) if runtime == "onnxruntime" else keras_route(generator)


def _fingerprint(generator: keras.Model) -> str:
    digest = hashlib.sha256(generator.to_json().encode())
    for weight in generator.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()
