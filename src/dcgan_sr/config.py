"""Every hyperparameter of a run, in one dataclass that is saved beside the weights.

The defaults are the seed's recipe (the README's "The model" section):
a plain ``dcgan-sr train`` trains the seed's model with the seed's losses.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from dcgan_sr.errors import UserError
from dcgan_sr.io import write_json_atomic

# The realistic mix's downscaling kernels (dcgan_sr.degrade.resize names them).
MIX_KERNELS = ("bicubic", "bilinear_noaa", "area", "nearest", "nearest_cv", "lanczos")

CHOICES = {"degradation": ("protocol", "realistic"), "gan_loss": ("bce", "ragan", "hinge"),
           "content_loss": ("none", "l1", "dfeat", "vgg", "identity"),
           "upsample": ("nearest_conv", "pixelshuffle"),
           "mixed_precision": ("auto", "off", "bf16", "fp16"), "xla": ("auto", "on", "off"),
           "strategy": ("default", "mirrored", "multiworker"),
           "update_order": ("d_then_g", "simultaneous")}

# The images between two checkpoints are shuffled as one order in memory (dcgan_sr.batches).
MAX_IMAGES_PER_EPOCH = 10 ** 8

# The settings that shape the generator (dcgan_sr.models.build_generator).
GENERATOR_KEYS = ("gen_head_filters", "gen_res_filters", "gen_up_filters", "gen_head_kernel",
                  "gen_out_kernel", "gen_bicubic_skip", "gen_batchnorm", "upsample",
                  "gen_residual_scale", "leaky_slope")
# Keys that `train` writes into config.json beside the hyperparameters; not settings.
RUN_INFO_KEYS = ("data", "versions", "device", "backend", "execution")
# Keys a resumed run may change: the schedule's end and how the steps execute.
RESUMABLE_KEYS = ("steps", "checkpoint_every", "mixed_precision", "xla", "strategy",
                  "worker_timeout")


@dataclasses.dataclass(frozen=True)
class Config:
    # Generator: 7x7 head, residual units, two (upsample x2 + conv) stages, 9x9 tanh output.
    gen_head_filters: int = 64
    gen_res_filters: tuple[int, ...] = (256, 256, 128, 128, 64, 64)
    gen_up_filters: int = 64
    gen_head_kernel: int = 7
    gen_out_kernel: int = 9
    # Not in the seed: add a bicubic 4x upsampling of the input to the output, so G learns
    # the residual detail (as VDSR and later SR networks do); converges far faster on a CPU.
    gen_bicubic_skip: bool = False
    # Not in the seed: drop BatchNorm from G (EDSR found SR better without it; then G
    # behaves the same in training and inference).
    gen_batchnorm: bool = True
    # Not in the seed: x2 upsampling by nearest + conv (seed) or pixelshuffle with ICNR init,
    # and a scale on each residual branch before its sum (EDSR uses 0.1 for deep nets).
    upsample: str = "nearest_conv"
    gen_residual_scale: float = 1.0
    # Discriminator: 3x3 head, stride-2 stages, 3x3 conv, per-position dense, GAP, sigmoid.
    disc_head_filters: int = 64
    disc_stage_filters: tuple[int, ...] = (64, 128, 256, 512)
    disc_conv_filters: int = 256
    disc_dense_units: int = 1024
    disc_spectral_norm: bool = False  # not in the seed: spectral normalisation of D's weights
    leaky_slope: float = 0.2

    # Losses: G = adv_weight * BCE(D(G(lr)), 1) + mse_weight * MSE(G(lr), hr).
    mse_weight: float = 0.8
    adv_weight: float = 0.2
    label_noise: float = 0.1  # targets: real 1 - noise*U(0,1), fake noise*U(0,1)
    # Not in the seed (see dcgan_sr.losses): the adversarial loss, and a content loss
    # added to the MSE with its own weight.
    gan_loss: str = "bce"
    content_loss: str = "none"
    content_weight: float = 0.0
    # Not in the seed: R1 penalty (r1_weight/2 * E||grad_x D(x_real)||^2) on D's output.
    r1_weight: float = 0.0
    # Within a batch: D learns first, then G through the updated D (the seed's order), or
    # both from one forward pass ("simultaneous", how the presets were trained). See gan.py.
    update_order: str = "d_then_g"

    # Optimisers: G Adam, D RMSprop with value clipping. The MSE warm-up (not in the seed)
    # may use its own Adam rate and beta_1; the adversarial phase uses g_learning_rate/g_beta_1.
    g_learning_rate: float = 2e-4
    g_beta_1: float = 0.5
    pretrain_learning_rate: float = 2e-4
    pretrain_beta_1: float = 0.5
    d_learning_rate: float = 1e-4
    d_clipvalue: float = 1.0
    # Not in the seed: exponential moving average of G's weights (0 = off; e.g. 0.999);
    # the exported generator is the average.
    ema_decay: float = 0.0

    # How training inputs are made from HR (dcgan_sr.degrade): "protocol" (antialiased
    # bicubic, the benchmark; the seed's data, made properly) or "realistic" (a random mix of
    # blur, downscaling kernels, noise and JPEG, for real low-resolution faces). The mix_*
    # fields are the realistic mix's probabilities and ranges (noise in grey levels, blur in
    # pixels of the photo's window, mix_shift in LR pixels); they do nothing under "protocol".
    # (`evaluate --degradation` names something else: one of degrade.NAMED, fixed per seed.)
    degradation: str = "protocol"
    mix_protocol_prob: float = 0.1
    mix_blur_prob: float = 0.6
    mix_blur_sigma: tuple[float, ...] = (0.2, 2.5)
    mix_anisotropic_prob: float = 0.5
    mix_kernels: tuple[str, ...] = MIX_KERNELS
    mix_noise_prob: float = 0.6
    mix_noise_sigma: tuple[float, ...] = (1.0, 10.0)
    mix_poisson_prob: float = 0.3
    mix_grey_noise_prob: float = 0.4
    mix_jpeg_prob: float = 0.7
    mix_jpeg_quality: tuple[float, ...] = (30.0, 95.0)
    mix_second_order_prob: float = 0.3
    mix_shift: float = 0.25

    # Fine-tuning: a preset name or a .weights.h5 (with its config.json beside it) whose
    # generator starts the run instead of random weights; its architecture must be this
    # config's. "" = from scratch.
    init_generator: str = ""

    # Schedule. `steps` counts every step, the MSE-only warm-up included.
    batch_size: int = 128
    steps: int = 20_000
    pretrain_steps: int = 0
    checkpoint_every: int = 500
    val_images: int = 256
    seed: int = 0

    # Execution (speed, not the recipe; may change when a run resumes). "auto": mixed
    # bfloat16 (float16 with loss scaling on GPUs before Ampere) and XLA on a GPU, both
    # off on a CPU, where they are not faster.
    mixed_precision: str = "auto"
    xla: str = "auto"
    strategy: str = "default"
    # --strategy multiworker: seconds without a sign of life after which a worker is taken
    # as dead and the others stop (instead of waiting for it forever).
    worker_timeout: int = 60

    def __post_init__(self) -> None:
        problems = list(_range_problems(self))
        if problems:
            raise UserError("invalid config: " + "; ".join(problems))

    def generator_architecture(self) -> dict:
        """The settings that shape the generator: what its weights are only valid with."""
        return {k: v for k, v in self.to_dict().items() if k in GENERATOR_KEYS}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "Config":
        """Build a config from JSON-like values, refusing unknown keys and wrong types."""
        if not isinstance(values, dict):
            raise UserError(f"{source}: expected a JSON object of settings")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise UserError(f"{source}: unknown key(s) {', '.join(unknown)}; "
                            f"known keys are listed in dcgan_sr/config.py")
        typed = {name: _coerce(name, fields[name].type, value, source)
                 for name, value in values.items()}
        try:
            return cls(**typed)
        except UserError as error:
            raise UserError(f"{source}: {error}") from None

    def save(self, path: Path) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> "Config":
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise UserError(f"{path}: cannot read config ({error}); "
                            "pass a JSON file written by `dcgan-sr train`") from None
        if isinstance(values, dict):
            values = {k: v for k, v in values.items() if k not in RUN_INFO_KEYS}
        return cls.from_dict(values, source=str(path))

    def differences(self, other: "Config") -> list[str]:
        mine, theirs = self.to_dict(), other.to_dict()
        return [key for key in mine if mine[key] != theirs[key]]


def _coerce(name: str, annotation: str, value, source: str):
    def bad(expected: str):
        return UserError(f"{source}: {name} must be {expected}, got {value!r}")

    if annotation == "str":
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if annotation == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if annotation == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if annotation == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if annotation == "tuple[float, ...]":
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise bad("a list of numbers")
        return tuple(float(v) for v in value)
    if annotation == "tuple[str, ...]":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return tuple(value)
    if annotation == "tuple[int, ...]":
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise bad("a list of integers")
        return tuple(value)
    raise AssertionError(f"unhandled config type {annotation} for {name}")


def _range_problems(config: Config):
    for f in dataclasses.fields(config):
        values = getattr(config, f.name)
        values = values if isinstance(values, tuple) else (values,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            yield f"{f.name} must be a finite number"
    if not 0 <= config.seed < 2 ** 32:
        yield "seed must be between 0 and 2**32 - 1"
    positive = ["gen_head_filters", "gen_up_filters", "gen_head_kernel", "gen_out_kernel",
                "disc_head_filters", "disc_conv_filters", "disc_dense_units",
                "batch_size", "steps", "checkpoint_every", "val_images", "worker_timeout",
                "g_learning_rate", "pretrain_learning_rate", "d_learning_rate", "d_clipvalue"]
    for name in positive:
        if getattr(config, name) <= 0:
            yield f"{name} must be > 0"
    for name in ("gen_head_kernel", "gen_out_kernel"):
        if getattr(config, name) % 2 == 0:  # "same" padding of an even kernel is lopsided
            yield f"{name} must be odd (a centred kernel: 3, 5, 7, 9, ...)"
    for name in ("gen_res_filters", "disc_stage_filters"):
        widths = getattr(config, name)
        if not widths or any(w <= 0 for w in widths):
            yield f"{name} must be a non-empty list of positive widths"
    for name, choices in CHOICES.items():
        if getattr(config, name) not in choices:
            yield f"{name} must be one of {', '.join(choices)}"
    if config.content_loss != "none" and config.content_weight <= 0:
        yield "content_weight must be > 0 when content_loss is set"
    for name in ("mse_weight", "adv_weight", "content_weight", "label_noise", "leaky_slope",
                 "r1_weight"):
        if getattr(config, name) < 0:
            yield f"{name} must be >= 0"
    for name in ("g_beta_1", "pretrain_beta_1"):
        if not 0 <= getattr(config, name) < 1:
            yield f"{name} must be in [0, 1)"
    if not 0 <= config.ema_decay < 1:
        yield "ema_decay must be in [0, 1)"
    if config.gen_residual_scale <= 0:
        yield "gen_residual_scale must be > 0"
    if not 0 <= config.label_noise < 0.5:
        yield "label_noise must be in [0, 0.5)"
    for name in ("mix_protocol_prob", "mix_blur_prob", "mix_anisotropic_prob", "mix_noise_prob",
                 "mix_poisson_prob", "mix_grey_noise_prob", "mix_jpeg_prob",
                 "mix_second_order_prob"):
        if not 0 <= getattr(config, name) <= 1:
            yield f"{name} must be a probability in [0, 1]"
    for name, low in (("mix_blur_sigma", 0.1), ("mix_noise_sigma", 0.0), ("mix_jpeg_quality", 1.0)):
        bounds = getattr(config, name)
        if len(bounds) != 2 or not low <= bounds[0] <= bounds[1]:
            yield f"{name} must be two numbers low,high with {low:g} <= low <= high"
    if config.mix_jpeg_quality[-1] > 100:
        yield "mix_jpeg_quality must be at most 100"
    if not config.mix_kernels or set(config.mix_kernels) - set(MIX_KERNELS):
        yield f"mix_kernels must be a non-empty list of {', '.join(MIX_KERNELS)}"
    if not 0 <= config.mix_shift <= 0.5:
        yield "mix_shift must be in [0, 0.5] (LR pixels)"
    if not 0 <= config.pretrain_steps <= config.steps:
        yield "pretrain_steps must be between 0 and steps"
    if config.batch_size * config.checkpoint_every > MAX_IMAGES_PER_EPOCH:
        yield (f"batch_size x checkpoint_every must be at most {MAX_IMAGES_PER_EPOCH:,} (the images "
               "between two checkpoints are ordered in memory); checkpoint more often")
