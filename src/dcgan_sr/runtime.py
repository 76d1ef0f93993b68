"""Starting TensorFlow quietly, and saying what it will compute on (under any Keras backend)."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import platform
import sys
from pathlib import Path


@contextlib.contextmanager
def native_stderr_muted():
    """Mute file descriptor 2. TensorFlow's C++ start-up lines (absl, oneDNN, CUDA probing)
    bypass Python logging and TF_CPP_MIN_LOG_LEVEL, and a notebook would show them."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def installed(*modules: str) -> bool:
    """Whether every one of these modules can be imported (without importing it)."""
    return all(importlib.util.find_spec(module) is not None for module in modules)


def has_tensorflow() -> bool:
    """Whether TensorFlow is installed (the JAX backend runs without it)."""
    return installed("tensorflow")


def start_tensorflow() -> list:
    """Import TensorFlow and initialise its devices without the start-up noise; the GPUs found.

    Call it before anything else touches TensorFlow if you want the quiet start; GPU
    options such as memory growth must be set before it, as before any TF op.
    """
    if not has_tensorflow():
        return []
    with native_stderr_muted():
        import tensorflow as tf
        return tf.config.list_physical_devices("GPU")


def gpus() -> list[tuple[str, float]]:
    """(name, compute capability) of each GPU the Keras backend sees; [] without one."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return [(d.device_kind, float(getattr(d, "compute_capability", "8.0")))
                for d in jax.devices() if d.platform == "gpu"]
    found = start_tensorflow()
    if not found:
        return []
    import tensorflow as tf

    result = []
    for gpu in found:
        details = tf.config.experimental.get_device_details(gpu)
        major, minor = details.get("compute_capability", (8, 0))
        result.append((details.get("device_name", gpu.name), major + minor / 10))
    return result


# The CPU features that decide which kernels the backends run (float32 SIMD width, native
# bfloat16, Intel's AMX tiles), as /proc/cpuinfo names them.
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_features() -> dict:
    """This CPU's model name and which of CPU_FLAGS it has (Linux; elsewhere only the model)."""
    fields = {}
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first processor's
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name") or platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "flags": [f for f in CPU_FLAGS if f in flags]}


def device_name() -> str:
    """What computes: the GPU(s) the Keras backend sees, else the CPU model and its core count."""
    found = gpus()
    if found:
        return f"{len(found)}x GPU ({found[0][0]})"
    cpu = cpu_features()
    return f"CPU ({cpu['model']}, {cpu['cores']} cores)"


def show_messages(prefix: str = "dcgan-sr: ") -> None:
    """Print the package's progress and warnings (resuming, skipped files) to stderr."""
    package_log = logging.getLogger("dcgan_sr")
    if not package_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(prefix + "%(message)s"))
        package_log.addHandler(handler)
    package_log.setLevel(logging.INFO)
    package_log.propagate = False  # libraries may configure the root logger; print once
