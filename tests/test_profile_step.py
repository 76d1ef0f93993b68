"""benchmarks/profile_step.py's summary of a oneDNN verbose log (a crafted one: no timing)."""

import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import profile_step  # noqa: E402

LOG = """startup chatter
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core,forward_training,src:f32,,alg,mb16,100
=== profile start
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core,forward_training,src:f32,,alg,mb16_ic64oc3,600
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core,forward_training,src:f32,,alg,mb16_ic8oc8,200
onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx512_core,backward_weights,src:f32,,alg,mb16_ic8oc8,400
onednn_verbose,v1,primitive,create:cache_miss,cpu,reorder,jit:uni,undef,src:f32,,,,0.5
some other line
=== profile end 1.0
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core,forward_training,src:f32,,alg,mb16,900
"""


def test_summary_sums_each_primitive_between_the_markers_per_step():
    text = profile_step.summarize(LOG, steps=2)
    lines = text.splitlines()
    assert lines[0].startswith("step 1.000 s (with logging); oneDNN primitives 0.600 s summed (60% ")
    assert "convolution   forward_training    66.7%      1  brg_conv_fwd:avx512_core" in lines[2]
    assert "convolution   backward_weights    33.3%      0  jit:avx512_core" in lines[3]
    assert lines[4] == ""  # the cache miss is not an execution; lines outside the markers not counted
    # Then the same time by problem: each shape of each pass on its own line, costliest first.
    assert lines[7].endswith("50.0%  brg_conv_fwd:avx512_core  mb16_ic64oc3")
    assert lines[8].endswith("33.3%  jit:avx512_core  mb16_ic8oc8")
    assert lines[9].endswith("16.7%  brg_conv_fwd:avx512_core  mb16_ic8oc8")
    assert len(lines) == 10


def test_op_summary_sums_self_time_by_type_per_step_without_idle():
    rows = [{"type": "IDLE", "occurrences": 1, "total_self_time": 9e6},
            {"type": "Conv2D", "occurrences": 4, "total_self_time": 3e6},
            {"type": "Conv2D", "occurrences": 2, "total_self_time": 1e6},
            {"type": "Mul", "occurrences": 6, "total_self_time": 1e6}]
    lines = profile_step.summarize_ops(rows, steps=2, step_seconds=2.0).splitlines()
    assert lines[0].startswith("step 2.000 s (traced); TensorFlow ops 2.500 s summed (125% ")
    assert lines[2].split() == ["Conv2D", "80.0%", "2000.0", "3"]
    assert lines[3].split() == ["Mul", "20.0%", "500.0", "3"]
    assert len(lines) == 4


def test_op_rows_reads_a_real_profiler_trace(tmp_path):
    """op_rows reads TensorFlow's trace through the converter TensorBoard's profile plugin
    uses (a private module): a TensorFlow release that moves it fails here."""
    import numpy as np
    import tensorflow as tf

    step = tf.function(lambda a: tf.reduce_sum(tf.matmul(a, a)))
    a = tf.constant(np.ones((64, 64), np.float32))
    step(a)
    tf.profiler.experimental.start(str(tmp_path))
    for _ in range(3):
        step(a)
    tf.profiler.experimental.stop()
    ops = {row["type"]: row for row in profile_step.op_rows(str(tmp_path))}
    matmul = next(row for kind, row in ops.items() if "MatMul" in kind)
    assert matmul["occurrences"] == 3 and matmul["total_self_time"] > 0
    assert "IDLE" in ops  # what summarize_ops leaves out
