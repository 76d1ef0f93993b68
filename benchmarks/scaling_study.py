"""Equal-time scaling study of the default preset's generator on this CPU.

    python benchmarks/scaling_study.py --data DIR --out RUNS/scaling --budget-minutes 10

Every arm trains G alone (MSE on the realistic degradation mix, the `real` preset's recipe)
for the same budget of *this machine's* time, then all arms are scored together on the
validation partition under every named degradation (`dcgan-sr evaluate --degradation all`:
PSNR and dlib's identity distance), and each one's upscaling speed through the API's route
(`Upscaler`) is timed.

Equal time, measured once: the machine is shared (tests, other runs), so a wall-clock budget
would give an arm less work whenever something else ran. The script first times every arm's
real `fit` step (its data pipeline included) in interleaved rounds in one process, then
gives each arm `budget / seconds per step` steps. The step counts and timings are kept in
OUT/calibration.json; a second call reuses them.

Resumable: each arm is a `dcgan-sr train` run folder under OUT (rerunning this command
resumes an unfinished arm from its last checkpoint and skips finished ones); its output goes
to OUT/<arm>.log. Writes OUT/study.json, OUT/study.md (the table) and OUT/study.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BASE = {
    # the `real` preset's network and warm-up recipe (configs/cpu_real.json), MSE only
    "gen_head_filters": 64, "gen_res_filters": [64] * 6, "gen_up_filters": 64,
    "gen_bicubic_skip": True, "gen_batchnorm": False, "upsample": "pixelshuffle",
    "disc_head_filters": 32, "disc_stage_filters": [32, 64, 128, 256], "disc_conv_filters": 128,
    "disc_dense_units": 256, "mse_weight": 1.0, "pretrain_learning_rate": 5e-4,
    "pretrain_beta_1": 0.9, "ema_decay": 0.99, "degradation": "realistic",
    "mix_protocol_prob": 0.2, "batch_size": 16, "checkpoint_every": 50, "val_images": 64,
    "xla": "off", "update_order": "simultaneous",
}

# name -> changes to BASE. The presets' network (64 filters x 6 residual units, 9x9 output
# conv) in float32 and mixed bfloat16; then, with a 3x3 output conv (ESRGAN's; the 9x9 is a
# third of this G's step time on this CPU), the same, twice as deep, twice as wide, and the
# seed's own widths.
WIDE = {"gen_head_filters": 128, "gen_res_filters": [128] * 6, "gen_up_filters": 128}
ARMS = {
    "presets_f32": {"mixed_precision": "off"},
    "presets_bf16": {"mixed_precision": "bf16"},
    "k3_f32": {"gen_out_kernel": 3, "mixed_precision": "off"},
    "deep_k3_f32": {"gen_out_kernel": 3, "gen_res_filters": [64] * 12, "mixed_precision": "off"},
    "wide_k3_f32": WIDE | {"gen_out_kernel": 3, "mixed_precision": "off"},
    "seed_widths_k3_f32": {"gen_out_kernel": 3, "gen_res_filters": [256, 256, 128, 128, 64, 64],
                           "mixed_precision": "off"},
}

CALIBRATION_ROUNDS, CALIBRATION_STEPS = 3, 24


def arm_config(name: str) -> dict:
    return BASE | ARMS[name]


def calibrate(data_dir: Path, arms: list[str]) -> dict[str, float]:
    """Seconds per training step of each arm, its data pipeline included: the median of
    CALIBRATION_ROUNDS timed `fit`s of CALIBRATION_STEPS steps, the arms interleaved."""
    import numpy as np

    from dcgan_sr import datasets, execution
    from dcgan_sr.config import Config
    from dcgan_sr.train import build_gan

    # one data pipeline for every arm: they differ in G only
    data = datasets.load(Config.from_dict(arm_config(arms[0]) | {
        "checkpoint_every": CALIBRATION_STEPS, "steps": 10 ** 6, "val_images": 8}), data_dir, "train", "val")
    fits = {}
    for name in arms:
        config = Config.from_dict(arm_config(name) | {"steps": 10 ** 6})
        with execution.dtype_policy(execution.resolve(config).dtype_policy):
            gan = build_gan(config)
        gan.set_adversarial(False)
        gan.fit(data.train, steps_per_epoch=4, epochs=1, verbose=0)  # trace and warm up

        def fit(gan=gan):
            start = time.perf_counter()
            gan.fit(data.train, steps_per_epoch=CALIBRATION_STEPS, epochs=1, verbose=0)
            return (time.perf_counter() - start) / CALIBRATION_STEPS
        fits[name] = fit
    times = {name: [] for name in arms}
    for round_ in range(CALIBRATION_ROUNDS):
        for name in arms:
            times[name].append(fits[name]())
        print(f"calibration round {round_ + 1}/{CALIBRATION_ROUNDS}: "
              + ", ".join(f"{n} {t[-1]:.3f} s/step" for n, t in times.items()), flush=True)
    return {name: float(np.median(t)) for name, t in times.items()}


def steps_for(budget_minutes: float, seconds_per_step: float) -> int:
    """The steps a budget buys at this s/step, to the nearest whole checkpoint (at least one)."""
    every = BASE["checkpoint_every"]
    return max(every, round(budget_minutes * 60 / seconds_per_step / every) * every)


def train_arm(name: str, steps: int, data_dir: Path, out: Path, sr: str) -> None:
    folder = out / name
    config_path = out / "configs" / f"{name}.json"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(arm_config(name) | {"steps": steps, "pretrain_steps": steps},
                                      indent=2) + "\n")
    if (folder / "summary.json").exists():
        print(f"{name}: finished; skipped", flush=True)
        return
    command = [sr, "train", "--data", str(data_dir), "--out", str(folder), "--config", str(config_path)]
    print(f"{name}: {' '.join(command)}  (log: {out / f'{name}.log'})", flush=True)
    with open(out / f"{name}.log", "a") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True)


def upscale_speed(generators: dict, rounds: int = 3, batch: int = 64) -> dict[str, float]:
    """Images/s of each generator through `Upscaler.batch` (the API's route), 32x32 faces,
    the generators interleaved in rounds; the median round."""
    from upscale_speed import images_per_second  # benchmarks/, this script's own folder

    speeds = images_per_second(generators, "auto", rounds, batch)
    return {name: round(speed, 1) for name, speed in speeds.items()}


def score(data_dir: Path, out: Path, arms: list[str], limit: int) -> dict:
    from dcgan_sr import evaluate
    from dcgan_sr.presets import load_generator
    from dcgan_sr.upscaler import Upscaler

    generators = {name: load_generator(out / name / "generator.weights.h5") for name in arms}
    table = evaluate.robustness(data_dir, {n: Upscaler(g) for n, g in generators.items()},
                                split="val", limit=limit, progress=lambda s: print(s, flush=True))
    return {"robustness": table, "images_per_second": upscale_speed(generators),
            "parameters": {n: int(g.count_params()) for n, g in generators.items()}}


def markdown(study: dict) -> str:
    table, arms = study["scores"]["robustness"], study["arms"]
    named = [d for d in table if d != "protocol"]
    lines = ["| arm | G params | s/step | steps | upscale img/s | protocol PSNR | protocol ID "
             "| mean Δ over bicubic, degraded | worst Δ, degraded | mean ID, degraded |",
             "|---" * 10 + "|"]
    bicubic_id = sum(table[d]["bicubic"]["identity"] for d in named) / len(named)
    lines.append(f"| bicubic | | | | | {table['protocol']['bicubic']['psnr_rgb']:.2f} | "
                 f"{table['protocol']['bicubic']['identity']:.3f} | 0 | 0 | {bicubic_id:.3f} |")
    for arm in arms:
        gains = [table[d][arm]["psnr_rgb"] - table[d]["bicubic"]["psnr_rgb"] for d in named]
        identity = sum(table[d][arm]["identity"] for d in named) / len(named)
        lines.append(
            f"| `{arm}` | {study['scores']['parameters'][arm] / 1e6:.2f} M | "
            f"{study['seconds_per_step'][arm]:.3f} | {study['steps'][arm]} | "
            f"{study['scores']['images_per_second'][arm]} | "
            f"{table['protocol'][arm]['psnr_rgb']:.2f} | {table['protocol'][arm]['identity']:.3f} | "
            f"{sum(gains) / len(gains):+.2f} | {min(gains):+.2f} | {identity:.3f} |")
    timed_only = [a for a in study["seconds_per_step"] if a not in arms]
    for arm in timed_only:
        ratio = study["seconds_per_step"][arm] / study["seconds_per_step"]["presets_f32"]
        lines.append(f"\n`{arm}`: timed, not trained: {study['seconds_per_step'][arm]:.3f} s/step, "
                     f"{ratio:.2f}x the step of `presets_f32` (same network in float32).")
    n = table["protocol"]["n_images"]
    lines.append(f"\n{n} validation faces; budget {study['budget_minutes']} min of this CPU per arm "
                 "(steps = budget / the arm's measured s/step); PSNR on RGB, 4-px border; ID: dlib's "
                 "identity distance to HR (lower is better). Degraded: every named degradation but "
                 "the protocol.")
    return "\n".join(lines)


def figure(study: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table, arms = study["scores"]["robustness"], study["arms"]
    named = [d for d in table if d != "protocol"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for arm in arms:
        gains = [table[d][arm]["psnr_rgb"] - table[d]["bicubic"]["psnr_rgb"] for d in table]
        left.plot(list(table), gains, marker="o", label=arm)
        right.scatter(table["protocol"][arm]["psnr_rgb"],
                      sum(table[d][arm]["identity"] for d in named) / len(named), label=arm)
    left.axhline(0, color="grey", lw=0.8)
    left.set_ylabel("PSNR gain over bicubic (dB)")
    left.tick_params(axis="x", rotation=40)
    left.legend(fontsize=8)
    right.set_xlabel("protocol PSNR (dB)")
    right.set_ylabel("mean ID distance, degraded (lower: better)")
    fig.suptitle(f"Equal-time study: {study['budget_minutes']} min of this CPU per arm")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="folder of the CelebA faces")
    parser.add_argument("--out", required=True, type=Path, help="study folder (keep it outside the checkout)")
    parser.add_argument("--budget-minutes", type=float, default=10.0)
    parser.add_argument("--arms", default=",".join(a for a in ARMS if a != "presets_bf16"),
                        help="the arms to train, comma-separated (default: all but presets_bf16, "
                        "which is only timed: every arm's step is timed)")
    parser.add_argument("--limit", type=int, default=256, help="validation faces to score on")
    args = parser.parse_args(argv)
    arms = args.arms.split(",")
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        parser.error(f"unknown arms {unknown}; known: {', '.join(ARMS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    sr = str(Path(sys.executable).with_name("dcgan-sr"))

    calibration_file = args.out / "calibration.json"
    calibration = json.loads(calibration_file.read_text()) if calibration_file.exists() else {}
    missing = [a for a in ARMS if a not in calibration.get("seconds_per_step", {})]
    if missing:
        measured = calibrate(args.data, missing)
        calibration = {"seconds_per_step": calibration.get("seconds_per_step", {}) | measured,
                       "cpu": os.cpu_count()}
        calibration_file.write_text(json.dumps(calibration, indent=2) + "\n")
    per_step = calibration["seconds_per_step"]
    steps = {a: steps_for(args.budget_minutes, per_step[a]) for a in arms}
    print("steps per arm:", steps, flush=True)
    for arm in arms:
        train_arm(arm, steps[arm], args.data, args.out, sr)

    study = {"budget_minutes": args.budget_minutes, "arms": arms, "steps": steps,
             "seconds_per_step": {a: round(t, 4) for a, t in per_step.items()},
             "wall_seconds": {a: json.loads((args.out / a / "summary.json").read_text())["wall_seconds"]
                              for a in arms},
             "scores": score(args.data, args.out, arms, args.limit)}
    (args.out / "study.json").write_text(json.dumps(study, indent=2) + "\n")
    (args.out / "study.md").write_text(markdown(study) + "\n")
    figure(study, args.out / "study.png")
    print(markdown(study))
    return 0


if __name__ == "__main__":
    sys.exit(main())
