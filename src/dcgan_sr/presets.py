"""Shipped generator weights, and loading a generator from a preset name or a file.

`src/dcgan_sr/weights/` holds, per preset NAME, `NAME.weights.h5` and `NAME.config.json`
(the config of the run that trained it); `weights/README.md` is their model card.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import keras

from dcgan_sr.config import Config
from dcgan_sr.errors import UserError
from dcgan_sr.models import build_generator

WEIGHTS_DIR = Path(__file__).parent / "weights"
PRESETS = {
    "mse": "generator after the MSE warm-up: the best PSNR",
    "gan": "generator after the adversarial phase: sharper faces (default)",
}
DEFAULT_PRESET = "gan"


def preset_files(name: str) -> tuple[Path, Path]:
    return WEIGHTS_DIR / f"{name}.weights.h5", WEIGHTS_DIR / f"{name}.config.json"


def _config_beside(weights: Path) -> Config:
    """The config.json that `train` wrote beside its exported weights."""
    candidates = [weights.with_name(weights.name.replace(".weights.h5", ".config.json")),
                  weights.parent / "config.json"]
    for path in candidates:
        if path.is_file():
            return Config.load(path)
    raise UserError(f"{weights}: no config.json beside these weights, so the generator's widths "
                    "are unknown; pass weights from a run folder of `dcgan-sr train` or a .keras file")


def load_generator(weights: str | Path | None = None) -> keras.Model:
    """A generator from a preset name ('gan', 'mse'), a `.weights.h5` with its config, or a `.keras`.

    `.keras` files load with Keras' safe mode: a file that carries code (a Lambda layer)
    is refused.
    """
    weights = DEFAULT_PRESET if weights is None else weights
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
        if path.name.endswith(".keras"):
            return _load_keras_file(path)
        if not path.name.endswith(".weights.h5"):
            raise UserError(f"{path}: weights must be a .weights.h5 or .keras file")
        config = _config_beside(path)
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


def _load_keras_file(path: Path) -> keras.Model:
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises several types for a foreign or unsafe file
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path}: refused to load ({first_line}); only load .keras files "
                        "you trust, made by `dcgan-sr train`") from None
