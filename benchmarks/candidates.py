"""Candidates for the default scored in separate `dcgan-sr evaluate --degradation all --json`
runs of the same faces, in one robustness table with the default rule's verdict and each
one's landmark distance (the measure that shares no network with the identity term).

    python benchmarks/candidates.py A.json:model1=name,model2=name B.json:model1=name ...

Each argument is a kept JSON, then which of its methods to take and what to call them. The
runs must have scored the same LR: their bicubic columns are checked equal, row by row.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from dcgan_sr.evaluate import format_choice, format_robustness

BASELINES = ("bilinear", "bicubic")


def parse_source(text: str) -> tuple[Path, dict[str, str]]:
    path, _, picks = text.rpartition(":")
    if not path or not picks:
        raise ValueError(f"{text}: expected FILE.json:method=name[,method=name...]")
    renames = dict(pick.split("=", 1) for pick in picks.split(","))
    return Path(path), renames


def merge(sources: list[tuple[dict, dict[str, str]]]) -> tuple[dict, list[str]]:
    """One robustness table from several; raises ValueError when their LR differ."""
    table, names = {}, []
    for result, renames in sources:
        for row, methods in result.items():  # {degradation: evaluate result}
            merged = table.setdefault(row, {k: v for k, v in methods.items() if k in BASELINES
                                             or not isinstance(v, dict)})  # + n_images, ceiling
            if methods["bicubic"] != merged["bicubic"]:
                raise ValueError(f"{row}: bicubic differs between the files: not the same faces or LR")
            for method, name in renames.items():
                if method not in methods:
                    raise ValueError(f"{row}: no method {method!r} (it has {', '.join(methods)})")
                merged[name] = methods[method]
        names += [name for name in renames.values() if name not in names]
    return table, names


def landmarks(table: dict, names: list[str]) -> str:
    lines = ["landmark distance, px (dlib's 68 points; lower is closer): protocol / mean of the rows"]
    for name in ("bicubic", *names):
        values = [row[name]["landmarks"] for row in table.values()]
        lines.append(f"  {name}: {table['protocol'][name]['landmarks']:.3f} / {np.mean(values):.3f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", help="FILE.json:method=name[,method=name...]")
    args = parser.parse_args(argv)
    try:
        picked = [parse_source(text) for text in args.sources]
        sources = [(json.loads(path.read_text()), renames) for path, renames in picked]
        table, names = merge(sources)
    except (OSError, json.JSONDecodeError, ValueError) as error:
        print(f"candidates.py: {error}", file=sys.stderr)
        return 2
    print(format_robustness(table, names))
    print(format_choice(table, names))
    print(landmarks(table, names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
