"""Where a CPU train step's time goes, op by op: oneDNN's own log of every primitive it
runs (ONEDNN_VERBOSE=1), summed by kind over a few steps of tf.function; each kind's share
of the primitives' summed time, and that sum against the step's wall time (TensorFlow
runs independent ops at once, so the sum can exceed it).

    python benchmarks/profile_step.py [--config configs/x.json] [--policy mixed_bfloat16]

Runs itself in a child process with ONEDNN_VERBOSE=1 (oneDNN reads it when TensorFlow
loads it). The logging slows each primitive a little, so read the shares, not the times.

    python benchmarks/profile_step.py --ops [--logdir runs/profile]

instead traces the steps with TensorFlow's profiler (the trace TensorBoard's Profile tab
opens, kept in --logdir) and sums every TensorFlow op by type: the ops oneDNN's log cannot
see (BatchNorm's moments, activations, the optimiser's updates) beside the convolutions.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import time

START, END = "=== profile start", "=== profile end"


def child(args) -> float:
    """Times args.steps steps between the markers oneDNN's log is cut at (traced by
    TensorFlow's profiler with --ops); the seconds per step."""
    from dcgan_sr.runtime import start_tensorflow
    start_tensorflow()
    import numpy as np

    sys.path.insert(0, os.path.dirname(__file__))
    import bench
    from dcgan_sr.config import Config

    config = Config.load(args.config) if args.config else Config()
    hr = np.random.default_rng(0).integers(0, 256, (args.batch, 128, 128, 3), dtype=np.uint8)
    gan = bench.compiled_gan(config, args.policy, False, False, hr)
    gan.fit(bench._SameBatch(hr, 2), epochs=1, verbose=0)  # warm: allocations, kernel choice
    if args.ops:
        import tensorflow as tf
        tf.profiler.experimental.start(args.logdir)
    marks = not args.ops  # oneDNN's log is cut at them
    if marks:
        print(START, flush=True)
    start = time.perf_counter()
    gan.fit(bench._SameBatch(hr, args.steps), epochs=1, verbose=0)
    step_seconds = (time.perf_counter() - start) / args.steps
    if marks:
        print(END, step_seconds, flush=True)
    if args.ops:
        tf.profiler.experimental.stop()
    return step_seconds


def op_rows(logdir: str) -> list[dict]:
    """Per-op rows (type, occurrences, total_self_time in microseconds, ...) of the newest
    trace under `logdir`, by the converter TensorBoard's profile plugin uses."""
    import glob
    import json

    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin

    traces = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True),
                    key=os.path.getmtime)
    data, ok = _pywrap_profiler_plugin.xspace_to_tools_data(traces[-1:], "framework_op_stats", {})
    table = json.loads(data)
    table = table[0] if isinstance(table, list) else table
    names = [column["id"] for column in table["cols"]]
    return [dict(zip(names, [cell["v"] if cell else None for cell in row["c"]]))
            for row in table["rows"]]


def summarize_ops(rows: list[dict], steps: int, step_seconds: float, top: int = 15) -> str:
    """Self time per TensorFlow op type and step, costliest first (the profiler's IDLE left
    out), each type's share of all ops' time."""
    seconds, calls = collections.Counter(), collections.Counter()
    for row in rows:
        if row["type"] != "IDLE":
            seconds[row["type"]] += row["total_self_time"] / 1e6 / steps
            calls[row["type"]] += row["occurrences"] / steps
    inside = sum(seconds.values())
    out = [f"step {step_seconds:.3f} s (traced); TensorFlow ops {inside:.3f} s summed "
           f"({inside / step_seconds:.0%} of the step: above 100 %, independent ops ran at once)",
           f"{'op type':40s} {'share':>6s} {'ms':>8s} {'calls':>6s}"]
    for kind, s in seconds.most_common(top):
        out.append(f"{kind:40s} {s / inside:6.1%} {s * 1e3:8.1f} {calls[kind]:6.0f}")
    return "\n".join(out)


def summarize(log: str, steps: int) -> str:
    lines = log.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(START))
    last = next(i for i, line in enumerate(lines) if line.startswith(END))
    step_seconds = float(lines[last].split()[-1])
    seconds, calls = collections.Counter(), collections.Counter()
    by_shape = collections.Counter()
    for line in lines[first:last]:
        fields = line.split(",")
        if not line.startswith("onednn_verbose") or "exec" not in fields:
            continue
        at = fields.index("exec")  # exec, cpu, kind, implementation, propagation, ..., shape, ms
        key = (fields[at + 2], fields[at + 4], fields[at + 3])
        seconds[key] += float(fields[-1]) / 1000 / steps
        calls[key] += 1
        by_shape[(fields[at + 2], fields[at + 4], fields[at + 3], fields[-2])] += \
            float(fields[-1]) / 1000 / steps
    inside = sum(seconds.values())
    out = [f"step {step_seconds:.3f} s (with logging); oneDNN primitives {inside:.3f} s summed "
           f"({inside / step_seconds:.0%} of the step: above 100 %, independent ops ran at once)",
           f"{'primitive':13s} {'pass':18s} {'share':>6s} {'calls':>6s}  implementation"]
    for (kind, propagation, implementation), s in seconds.most_common(10):
        out.append(f"{kind:13s} {propagation:18s} {s / inside:6.1%} "
                   f"{calls[(kind, propagation, implementation)] // steps:6d}  {implementation}")
    out += ["", "the ten costliest problems (oneDNN's shape: mb batch, ic/oc channels, ih/oh "
            "height, kh kernel, sh stride):", f"{'primitive':13s} {'pass':18s} {'share':>6s}  "
            "implementation  shape"]
    for (kind, propagation, implementation, shape), s in by_shape.most_common(10):
        out.append(f"{kind:13s} {propagation:18s} {s / inside:6.1%}  {implementation}  {shape}")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="model config JSON (default: the seed's)")
    parser.add_argument("--policy", default="float32", help="Keras dtype policy (default float32)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--steps", type=int, default=3, help="steps profiled (default 3)")
    parser.add_argument("--ops", action="store_true",
                        help="TensorFlow's profiler: every op by type (default: oneDNN's log)")
    parser.add_argument("--logdir", default="runs/profile",
                        help="where --ops keeps its trace (TensorBoard's Profile tab opens it)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    if args.ops:
        step_seconds = child(args)
        print(summarize_ops(op_rows(args.logdir), args.steps, step_seconds))
        return 0
    done = subprocess.run([sys.executable, __file__, "--child", *sys.argv[1:]],
                          env=dict(os.environ, ONEDNN_VERBOSE="1"), capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr[-3000:])
        return done.returncode
    print(summarize(done.stdout, args.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
