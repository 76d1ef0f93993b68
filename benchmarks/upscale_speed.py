"""Upscaling speed of generators side by side, measured in one run: images/s through
`dcgan_sr.Upscaler` (the API's, the demo's and the web app's route) with ONNX Runtime, 64
32x32 faces a call, the generators interleaved in rounds, the median round; then each one's
ratio to the first. The machine is shared, so only ratios from one run are compared.

    python benchmarks/upscale_speed.py --weights OLD.weights.h5,real [--runtime keras]

A .weights.h5 needs its config beside it (`real.config.json` beside `real.weights.h5`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def images_per_second(generators: dict, runtime: str = "auto", rounds: int = 7,
                      batch: int = 64) -> dict[str, float]:
    """{name: a preset, .weights.h5 or Keras generator} -> {name: median images/s}."""
    from dcgan_sr.upscaler import Upscaler

    faces = np.random.default_rng(0).integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8)
    upscalers = {name: Upscaler(g, runtime=runtime) for name, g in generators.items()}
    for up in upscalers.values():  # ONNX export and first-call costs, outside the timing
        up.batch(faces[:8])
    rates = {name: [] for name in upscalers}
    for _ in range(rounds):
        for name, up in upscalers.items():
            start = time.perf_counter()
            up.batch(faces)
            rates[name].append(batch / (time.perf_counter() - start))
    return {name: float(np.median(r)) for name, r in rates.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, help="comma-separated presets or .weights.h5 files")
    parser.add_argument("--runtime", default="onnxruntime", choices=("onnxruntime", "keras"))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    weights = args.weights.split(",")
    speeds = images_per_second({w: w for w in weights}, args.runtime, args.rounds, args.batch)
    first = speeds[weights[0]]
    for w, speed in speeds.items():
        print(f"{w:60s} {speed:8.1f} img/s  {speed / first:5.2f}x the first")
    print(json.dumps({"runtime": args.runtime, "img_s": speeds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
