"""`--xla auto` on a CPU, decided by measurement: whether XLA or plain tf.function runs
this run's steps faster on this machine.

Which is faster depends on the CPU (XLA was 33 % slower than tf.function on an Intel Xeon
and 1.6 times faster on an AMD EPYC, with the same code) and on the model, so `train`
times both: each path's train step is compiled (its first step, timed as the compile
cost) and then timed over a few steps, in each phase the run has left (MSE warm-up,
adversarial), on a batch of the run's size. The path whose compile cost plus the run's
remaining steps take least time wins: a short run keeps the path that compiles faster,
a long one the path that steps faster. The timings are cached per machine (CPU model and
flags), versions, the code of the step and the settings that shape it, in the user's
cache folder, so the next run on the same machine and settings decides without measuring.

A run too short to repay the measuring (under `MEASURE_MIN_STEPS` steps left) is not
measured: it keeps tf.function, unless the cache already knows better.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from dcgan_sr.config import Config
from dcgan_sr.errors import first_line
from dcgan_sr.io import write_json_atomic
from dcgan_sr.pixels import to_model
from dcgan_sr.runtime import cpu_features
from dcgan_sr.vocabulary import HR_SIZE, SCALE

log = logging.getLogger(__name__)

PATHS = {"function": False, "xla": True}  # name -> jit_compile
MEASURE_MIN_STEPS = 300  # fewer steps left than this: not worth a minute of measuring
TIMED_STEPS = 3  # steps timed per path and phase, after its compiling step
# The settings that change what a train step computes, and so its speed.
STEP_KEYS = ("gen_head_filters", "gen_res_filters", "gen_up_filters", "gen_head_kernel",
             "gen_out_kernel", "gen_bicubic_skip", "gen_batchnorm", "upsample",
             "gen_residual_scale", "disc_head_filters", "disc_stage_filters",
             "disc_conv_filters", "disc_dense_units", "disc_spectral_norm", "gan_loss",
             "content_loss", "r1_weight", "update_order", "ema_decay", "degradation",
             "batch_size", "mixed_precision")


@dataclasses.dataclass(frozen=True)
class Timing:
    """One path in one phase: its first step (tracing and compiling included) and a step
    after that, in seconds."""
    compile_seconds: float
    step_seconds: float


def cache_file() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "dcgan_sr" / "xla_auto.json"


def step_code() -> str:
    """A digest of the code that builds the step (the models, the speed layers, the GAN's
    steps and losses): timings measured before a change to it are not reused after."""
    from dcgan_sr import gan, losses, models, speed_layers

    sources = "".join(Path(module.__file__).read_text()
                      for module in (models, speed_layers, gan, losses))
    return hashlib.sha256(sources.encode()).hexdigest()[:16]


def cache_key(config: Config) -> str:
    """This machine, these versions, this code, and the settings that shape the step."""
    import tensorflow as tf

    what = {"cpu": cpu_features(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "code": step_code(),
            "step": {k: v for k, v in config.to_dict().items() if k in STEP_KEYS}}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def total_seconds(timings: dict[str, Timing], steps_left: dict[str, int]) -> float:
    """Compile once and run the remaining steps, in each phase the run has left."""
    return sum(timings[phase].compile_seconds + steps * timings[phase].step_seconds
               for phase, steps in steps_left.items() if steps)


def fastest(measured: dict[str, dict[str, Timing] | str], steps_left: dict[str, int]) -> str:
    """The path (a key of `measured`: {path: {phase: Timing}, or why it failed}) that
    finishes first, of those that run."""
    runs = [path for path, timings in measured.items() if not isinstance(timings, str)]
    return min(runs, key=lambda path: total_seconds(measured[path], steps_left))


def steps_left(config: Config, step: int) -> dict[str, int]:
    """Steps the run has left in each phase, from `step` on."""
    warm_up = max(0, config.pretrain_steps - step)
    return {"warm_up": warm_up, "adversarial": config.steps - max(step, config.pretrain_steps)}


def measure(build: Callable[[bool], keras.Model], config: Config, phases: list[str],
            clock=time.perf_counter) -> dict[str, dict[str, Timing] | str]:
    """Time each path's train step in each phase: `build(jit_compile)` gives a compiled
    GAN; its first step on a batch of the run's size counts as compiling, the next
    TIMED_STEPS as stepping. A path that fails to compile gets the first line of its error
    instead (XLA on a CPU has no kernel for some ops, TensorFlow's bicubic resize among them)."""
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (config.batch_size, HR_SIZE, HR_SIZE, 3), np.uint8)
    lr = hr[:, ::SCALE, ::SCALE]  # (LR, HR) pairs, as a realistic run feeds them; else HR alone
    batch = (to_model(lr), to_model(hr)) \
        if config.degradation == "realistic" else (hr,)
    measured: dict = {}
    for path, jit in PATHS.items():
        gan = build(jit)
        measured[path] = {}
        try:
            for phase in phases:
                gan.set_adversarial(phase == "adversarial")
                start = clock()
                gan.train_on_batch(*batch)
                compiled = clock()
                for _ in range(TIMED_STEPS):
                    logs = gan.train_on_batch(*batch, return_dict=True)
                float(logs["g_loss"])  # wait for the step to finish
                measured[path][phase] = Timing(compiled - start, (clock() - compiled) / TIMED_STEPS)
        except Exception as error:  # noqa: BLE001 - any failure to compile rules the path out
            measured[path] = first_line(error)
    return measured


def _read_cache(path: Path) -> dict:
    try:
        cached = json.loads(path.read_text())
        return cached if isinstance(cached, dict) else {}
    except (OSError, ValueError):
        return {}


def _from_cache(entry: dict, phases: list[str]) -> dict | None:
    """The cached timings of every path in these phases (or why a path cannot run), else None."""
    try:
        return {p: entry[p] if isinstance(entry[p], str) else
                {phase: Timing(**entry[p][phase]) for phase in phases} for p in PATHS}
    except (KeyError, TypeError):
        return None


def _to_cache(entry: dict, measured: dict) -> dict:
    """The cache entry with these timings added (phases timed before are kept)."""
    return {p: timings if isinstance(timings, str) else
            (entry.get(p) if isinstance(entry.get(p), dict) else {})
            | {phase: dataclasses.asdict(t) for phase, t in timings.items()}
            for p, timings in measured.items()}


def _described(measured: dict, left: dict[str, int]) -> str:
    """Each path's mean step time over the steps left and its compile time, or why it cannot run."""
    total = sum(left.values())
    return ", ".join(
        f"{p} cannot run here: {timings}" if isinstance(timings, str) else
        f"{p} {sum(t.step_seconds * left[ph] for ph, t in timings.items()) / total:.2f} s/step"
        f" + {sum(t.compile_seconds for t in timings.values()):.0f} s to compile"
        for p, timings in measured.items())


def choose_xla(config: Config, step: int, build: Callable[[bool], keras.Model]) -> bool:
    """Whether this run's steps on this CPU should be compiled by XLA (see the module)."""
    left = steps_left(config, step)
    if not sum(left.values()):  # a finished run resumed to export: nothing left to time
        return False
    key, path = cache_key(config), cache_file()
    cached = _read_cache(path)
    phases = [phase for phase, steps in left.items() if steps]
    measured = _from_cache(cached.get(key, {}), phases)
    source = f"timed earlier on this machine ({path})"
    if measured is None:
        if sum(left.values()) < MEASURE_MIN_STEPS:
            log.info("--xla auto: tf.function (a run of %d steps is too short to time both paths; "
                     "--xla on forces XLA)", sum(left.values()))
            return False
        log.info("--xla auto: timing tf.function and XLA on this CPU (%d steps of each, in each "
                 "phase left; cached for the next run)", TIMED_STEPS + 1)
        measured = measure(build, config, phases)
        entry = _to_cache(cached.get(key, {}), measured)
        try:
            write_json_atomic(path, cached | {key: entry}, indent=1)
        except OSError as error:
            log.info("--xla auto: could not cache the timings in %s (%s)", path, error)
        source = "timed now"
    choice = fastest(measured, left)
    log.info("--xla auto: %s for the %d steps left (%s: %s)", "XLA" if PATHS[choice] else "tf.function",
             sum(left.values()), source, _described(measured, left))
    return PATHS[choice]
