"""Shipped generator weights, and loading a generator from a preset name or a file.

`src/dcgan_sr/weights/` holds, per preset NAME, `NAME.weights.h5` and `NAME.config.json`
(the config of the run that trained it); `weights/README.md` is their model card.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import h5py
import keras
import numpy as np

from dcgan_sr.config import Config
from dcgan_sr.errors import UserError, first_line
from dcgan_sr.models import build_generator

WEIGHTS_DIR = Path(__file__).parent / "weights"
PRESETS = {
    "mse": "trained on the protocol, after the MSE warm-up: the best PSNR on clean input",
    "gan": "trained on the protocol, after the adversarial phase: sharper on clean input",
    "real": "trained on realistic degradations (blur, naive downscaling, noise, JPEG): for "
            "small faces as they are found (default)",
}
# The default: the preset with the best mean gain over bicubic across the README's
# robustness table, and never below bicubic on any of its rows.
DEFAULT_PRESET = "real"


def preset_files(name: str) -> tuple[Path, Path]:
    return WEIGHTS_DIR / f"{name}.weights.h5", WEIGHTS_DIR / f"{name}.config.json"


def _config_beside(weights: Path) -> Config:
    """The config.json that `train` wrote beside its exported weights."""
    candidates = [weights.with_name(weights.name.replace(".weights.h5", ".config.json")),
                  weights.parent / "config.json"]
    if weights.parent.name == "generators":  # kept by `train --keep-generators`: the run's
        candidates.append(weights.parent.parent / "config.json")
    for path in candidates:
        if path.is_file():
            return Config.load(path)
    raise UserError(f"{weights}: no config.json beside these weights, so the generator's widths "
                    "are unknown; pass weights from a run folder of `dcgan-sr train` or a .keras file")


ARCHITECTURE_ATTRIBUTE = "dcgan_sr_generator_architecture"


def stamp_architecture(weights: str | Path, config: Config) -> None:
    """Record in a .weights.h5 file the generator settings it was saved with, so that a
    config.json that does not match it (a flag flipped, another run's file) is refused."""
    with h5py.File(weights, "a") as handle:
        handle.attrs[ARCHITECTURE_ATTRIBUTE] = json.dumps(
            _jsonable(config.generator_architecture()), sort_keys=True)


def _jsonable(values: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _check_architecture(path: Path, config: Config) -> None:
    try:
        with h5py.File(path, "r") as handle:
            stamped = handle.attrs.get(ARCHITECTURE_ATTRIBUTE)
    except OSError as error:
        raise UserError(f"{path}: not a readable weights file ({error}); pass the "
                        ".weights.h5 written by `dcgan-sr train`") from None
    if stamped is None:  # saved before stamps existed: shapes are checked on load
        return
    saved, given = json.loads(stamped), _jsonable(config.generator_architecture())
    differing = sorted(k for k in saved if saved[k] != given.get(k))
    if differing:
        raise UserError(f"{path}: its config.json does not match these weights ("
                        + ", ".join(f"{k}: weights {saved[k]}, config {given.get(k)}" for k in differing)
                        + "); put the config.json of the run that saved them beside them")


def load_generator(weights: str | Path | None = None) -> keras.Model:
    """A generator from a preset name (mse, gan, real), a `.weights.h5` with its config, or a `.keras`.

    `.keras` files load with Keras' safe mode: a file that carries code (a Lambda layer)
    is refused.
    """
    weights = DEFAULT_PRESET if weights is None else weights
    if not str(weights).strip():
        raise UserError(f"--weights {str(weights)!r} is empty; pass a preset name "
                        f"({', '.join(PRESETS)}) or a .weights.h5/.keras file")
    if str(weights).endswith(".keras") and str(weights) not in PRESETS:
        if not Path(weights).is_file():
            raise UserError(f"{weights}: no such weights file; pass a preset name "
                            f"({', '.join(PRESETS)}) or a .weights.h5/.keras file")
        return _load_keras_file(Path(weights))
    path, config = weights_and_config(weights)
    generator = build_generator(config)
    try:
        with warnings.catch_warnings():
            # Keras only warns for some mismatches, leaving layers at their initial values.
            warnings.simplefilter("error", UserWarning)
            generator.load_weights(path)
    except (ValueError, OSError, UserWarning) as error:
        raise UserError(f"{path}: these weights do not fit the generator of its config "
                        f"({str(error).splitlines()[0]})") from None
    return generator


def weights_and_config(weights: str | Path) -> tuple[Path, Config]:
    """A preset name or a .weights.h5 -> (its weights file, the config it was trained
    with), checked against each other."""
    if str(weights) in PRESETS:
        path, config_path = preset_files(str(weights))
        if not path.is_file():
            raise UserError(f"preset {weights!r} is missing ({path}); reinstall dcgan_sr")
        config = Config.load(config_path)
    else:
        path = Path(weights)
        if not path.is_file():
            raise UserError(f"{path}: no such weights file; pass a preset name "
                            f"({', '.join(PRESETS)}) or a .weights.h5/.keras file")
        if not path.name.endswith(".weights.h5"):
            raise UserError(f"{path}: weights must be a .weights.h5 or .keras file")
        config = _config_beside(path)
    _check_architecture(path, config)
    return path, config


def _load_keras_file(path: Path) -> keras.Model:
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises several types for a foreign or unsafe file
        raise UserError(f"{path}: refused to load ({first_line(error)}); only load .keras files "
                        "you trust, made by `dcgan-sr train`") from None
    _check_is_4x_generator(model, path)
    return model


PROBES = ((8, 8), (12, 20))  # input sizes a 4x generator must take (any size, not square too)


def _check_is_4x_generator(model: keras.Model, path: Path) -> None:
    """Probes: an 8x8 and a 12x20 RGB input must give 32x32 and 48x80 RGB outputs (a model
    that resizes to a fixed size passes the first alone)."""
    for height, width in PROBES:
        expected = (1, 4 * height, 4 * width, 3)
        try:
            probe = np.zeros((1, height, width, 3), np.float32)
            shape = tuple(keras.ops.convert_to_numpy(model(probe, training=False)).shape)
        except Exception as error:  # any model can fail on a probe in its own way
            shape = f"an error: {first_line(error)}"
        if shape != expected:
            raise UserError(f"{path}: not a 4x super-resolution generator (a {height}x{width} RGB "
                            f"input gave {shape}, not {expected}); pass a generator.keras written "
                            "by `dcgan-sr train`")


if __name__ == "__main__":  # `python -m dcgan_sr.presets stamp NAME ...` (make presets)
    import sys

    if sys.argv[1:2] != ["stamp"] or not sys.argv[2:]:
        sys.exit("usage: python -m dcgan_sr.presets stamp PRESET [PRESET ...]")
    for name in sys.argv[2:]:
        weights, config = preset_files(name)
        stamp_architecture(weights, Config.load(config))
        print(f"{weights}: generator settings of {config.name} recorded")
