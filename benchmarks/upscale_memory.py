"""Peak memory of `dcgan-sr upscale` over 500 and over 5,000 faces, measured in one run.

    .venv/bin/python benchmarks/upscale_memory.py [--counts 500 5000] [--weights gan]

Writes 32x32 LR faces (the bundled sample's, by the degradation protocol, repeated under
new names) into a temporary folder, upscales the first N in a fresh process for each N,
and prints each process's peak resident memory and time. Memory should stay flat: the
upscaler holds one image (or tile) at a time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dcgan_sr import degrade, pixels

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import resource, sys
from dcgan_sr.cli import main
code = main(sys.argv[1:])
print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def lr_faces() -> list[np.ndarray]:
    """The bundled faces' LR inputs, by the protocol (dcgan_sr.degrade)."""
    files = sorted((REPO / "data" / "sample").glob("*.jpg"))
    lr, _ = degrade.pairs([pixels.read_photo(f) for f in files], "protocol")
    return list(lr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--weights", default="gan")
    args = parser.parse_args()
    faces = lr_faces()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for count in args.counts:
            inputs = Path(tmp) / f"in{count}"
            inputs.mkdir()
            for i in range(count):
                Image.fromarray(faces[i % len(faces)]).save(inputs / f"face{i:05d}.png")
            start = time.perf_counter()
            result = subprocess.run([sys.executable, "-c", CHILD, "upscale", str(inputs), "--out",
                                     str(Path(tmp) / f"out{count}"), "--weights", args.weights],
                                    capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if result.returncode != 0:
                sys.exit(f"upscale failed:\n{result.stderr[-2000:]}")
            peak_kb = int(result.stdout.rsplit("PEAK_RSS_KB", 1)[1].split()[0])
            rows.append((count, peak_kb / 1024, seconds))
        print(f"{'images':>7} {'peak RSS (MiB)':>15} {'time (s)':>9} {'images/s':>9}")
        for count, mib, seconds in rows:
            print(f"{count:>7} {mib:>15.0f} {seconds:>9.1f} {count / seconds:>9.1f}")
        if len(rows) > 1:
            print(f"peak RSS ratio {rows[-1][0]} vs {rows[0][0]} images: {rows[-1][1] / rows[0][1]:.2f}")


if __name__ == "__main__":
    main()
