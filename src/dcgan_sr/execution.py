"""How the training steps execute: precision, XLA, distribution; resolved from the config.

"auto" picks what is faster on the device at hand: mixed bfloat16 and XLA on a GPU
(float16 with loss scaling before Ampere); on a CPU, float32, and XLA or not as
`dcgan_sr.autotune` measures it for the run (`train` asks it; `resolve` alone says off).
Under the JAX backend every step is compiled by XLA anyway.

Distribution: `mirrored` is TensorFlow's MirroredStrategy (the GPUs of one machine).
`multiworker` is data parallelism over several processes or machines through Keras's own
`keras.distribution` on the JAX backend: Keras 3's `fit` does not run under TensorFlow's
MultiWorkerMirroredStrategy (keras-team/keras#20585). Each worker reads the cluster from
TF_CONFIG, feeds its own contiguous share of every global batch, and keeps a run folder
of its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os

import keras
import numpy as np

from dcgan_sr.config import Config
from dcgan_sr.errors import UserError
from dcgan_sr.runtime import gpus

log = logging.getLogger(__name__)

POLICIES = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The workers of a multi-worker run (host:port each; worker 0 hosts the coordinator)
    and which of them this process is."""
    workers: tuple[str, ...]
    index: int

    @property
    def size(self) -> int:
        return len(self.workers)


@dataclasses.dataclass(frozen=True)
class Execution:
    dtype_policy: str  # keras dtype policy name
    jit_compile: bool
    strategy: str  # default | mirrored | multiworker
    cluster: Cluster | None = None  # with multiworker

    def describe(self) -> dict:
        return {"backend": keras.backend.backend(), **dataclasses.asdict(self)}


def gpu_compute_capability() -> float | None:
    """The first GPU's compute capability (e.g. 9.0 for an H100), or None without a GPU."""
    found = gpus()
    return found[0][1] if found else None


def xla_is_a_choice() -> bool:
    """Whether XLA is an option to weigh here: TensorFlow on a CPU (JAX always compiles with
    XLA; on a GPU, XLA is faster)."""
    return keras.backend.backend() == "tensorflow" and gpu_compute_capability() is None


def resolve(config: Config) -> Execution:
    """How to run `config` here. With `multiworker`, this joins the cluster first: JAX must
    be connected to the other workers before it looks at the devices."""
    backend = keras.backend.backend()
    if config.strategy == "mirrored" and backend != "tensorflow":
        raise UserError("--strategy mirrored uses tf.distribute: run with "
                        "KERAS_BACKEND=tensorflow (or --strategy default)")
    cluster = None
    if config.strategy == "multiworker":
        if backend != "jax":
            raise UserError("--strategy multiworker runs on Keras's JAX backend (Keras 3's fit "
                            "does not run under TensorFlow's MultiWorkerMirroredStrategy, "
                            "keras-team/keras#20585): start every worker with KERAS_BACKEND=jax")
        cluster = cluster_from_environment()
        if config.batch_size % cluster.size:
            raise UserError(f"--batch-size {config.batch_size} (the global batch) does not split "
                            f"over {cluster.size} workers; use a multiple of {cluster.size}")
        join_cluster(cluster, config.worker_timeout)
    capability = gpu_compute_capability()
    if config.mixed_precision == "auto":
        policy = ("float32" if capability is None
                  else "mixed_bfloat16" if capability >= 8.0 else "mixed_float16")
    else:
        policy = POLICIES[config.mixed_precision]
    jit = backend == "jax" or (config.xla == "on" or (config.xla == "auto" and capability is not None))
    return Execution(policy, jit, config.strategy, cluster)


def cluster_from_environment() -> Cluster:
    """This worker's cluster, from TF_CONFIG (the format TensorFlow and most launchers use)."""
    example = "TF_CONFIG='" + json.dumps({"cluster": {"worker": ["host1:12345", "host2:12345"]},
                                          "task": {"type": "worker", "index": 0}}) + "'"
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UserError("--strategy multiworker needs TF_CONFIG naming every worker and this "
                        f"one's index, e.g. {example}")
    try:
        spec = json.loads(raw)
        workers, index = tuple(spec["cluster"]["worker"]), int(spec["task"]["index"])
    except (ValueError, KeyError, TypeError):
        raise UserError(f"TF_CONFIG is not a cluster spec; write it as {example}") from None
    if not workers or not 0 <= index < len(workers):
        raise UserError(f"TF_CONFIG: task index {index} is not one of the {len(workers)} workers")
    return Cluster(workers, index)


def join_cluster(cluster: Cluster, timeout_seconds: int) -> None:
    """Connect to the other workers (JAX's distributed runtime) and make every model built
    afterwards data-parallel over all their devices. A worker silent for `timeout_seconds`
    is taken as dead: JAX's coordination service then stops the others."""
    import jax

    log.info("worker %d of %d: joining %s", cluster.index, cluster.size, cluster.workers[0])
    # CPU devices of different processes talk through gloo (GPUs use NCCL regardless).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=cluster.workers[0],
                               num_processes=cluster.size, process_id=cluster.index,
                               heartbeat_timeout_seconds=timeout_seconds)
    # Each worker feeds its own share of every global batch (dcgan_sr.batches.WorkerShare).
    keras.distribution.set_distribution(keras.distribution.DataParallel(
        devices=keras.distribution.list_devices(), auto_shard_dataset=False))


# What a collective says when a peer is gone (gloo on CPUs, NCCL on GPUs, JAX's coordinator).
PEER_LOST = ("Gloo", "NCCL", "heartbeat", "coordination service", "Connection closed",
             "Connection reset")


def is_peer_lost(error: Exception) -> bool:
    return any(sign in str(error) for sign in PEER_LOST)


def all_workers(value: int) -> list[int]:
    """`value` as each worker of the cluster has it, in worker order."""
    from jax.experimental import multihost_utils

    return [int(v) for v in multihost_utils.process_allgather(np.int64(value))]


def distribution_scope(execution: Execution):
    """The tf.distribute scope to build and compile the models in (a no-op but for
    `mirrored`; `multiworker` distributes through `join_cluster`)."""
    if execution.strategy != "mirrored":
        return contextlib.nullcontext()
    import tensorflow as tf

    return tf.distribute.MirroredStrategy().scope()


@contextlib.contextmanager
def dtype_policy(name: str):
    """Set Keras's global dtype policy while the models are built, then put it back."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
