"""How the training steps execute: precision, XLA, distribution; resolved from the config.

"auto" picks what is faster on the device at hand (measured by benchmarks/bench.py):
mixed bfloat16 and XLA on a GPU (float16 with loss scaling before Ampere), neither on
a CPU. Under the JAX backend every step is compiled by XLA anyway.
"""

from __future__ import annotations

import contextlib
import dataclasses

import keras

from dcgan_sr.config import Config
from dcgan_sr.errors import UserError
from dcgan_sr.runtime import gpus

POLICIES = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


@dataclasses.dataclass(frozen=True)
class Execution:
    dtype_policy: str  # keras dtype policy name
    jit_compile: bool
    strategy: str  # default | mirrored | multiworker

    def describe(self) -> dict:
        return {"backend": keras.backend.backend(), **dataclasses.asdict(self)}


def gpu_compute_capability() -> float | None:
    """The first GPU's compute capability (e.g. 9.0 for an H100), or None without a GPU."""
    found = gpus()
    return found[0][1] if found else None


def resolve(config: Config) -> Execution:
    capability = gpu_compute_capability()
    if config.mixed_precision == "auto":
        policy = ("float32" if capability is None
                  else "mixed_bfloat16" if capability >= 8.0 else "mixed_float16")
    else:
        policy = POLICIES[config.mixed_precision]
    jax_backend = keras.backend.backend() == "jax"
    jit = jax_backend or (config.xla == "on" or (config.xla == "auto" and capability is not None))
    if config.strategy != "default" and keras.backend.backend() != "tensorflow":
        raise UserError(f"--strategy {config.strategy} uses tf.distribute: run with "
                        "KERAS_BACKEND=tensorflow (or --strategy default)")
    return Execution(policy, jit, config.strategy)


def distribution_scope(execution: Execution):
    """The tf.distribute scope to build and compile the models in (a no-op by default).

    MultiWorkerMirroredStrategy reads the cluster from the TF_CONFIG environment variable.
    """
    if execution.strategy == "default":
        return contextlib.nullcontext()
    import tensorflow as tf

    if execution.strategy == "mirrored":
        return tf.distribute.MirroredStrategy().scope()
    return tf.distribute.MultiWorkerMirroredStrategy().scope()


@contextlib.contextmanager
def dtype_policy(name: str):
    """Set Keras's global dtype policy while the models are built, then put it back."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
