"""G's 9x9 output convolution (64 channels in, 3 out, at 128x128), the step's least efficient
op on a CPU (`profile_step.py`: oneDNN runs it at a sixth of the rate of the residual
units' convolutions, its 3 output channels filling few vector lanes), computed three ways
that give the same result, each timed forward and backward in one tf.function:

    plain        the conv as the model runs it today
    phases       space_to_depth(2), a 5x5 conv from 256 to 12 channels at 64x64, then
                 depth_to_space(2): the same sums regrouped by sub-pixel phase (any input)
    nearest      speed_layers.NearestUpConv2D, for the seed's G, where the input is a nearest x2
                 upsampling: four 5x5 phase kernels on the 64x64 map before it (the
                 upsampled map is never made, its repeated pixels not multiplied again)

    python benchmarks/output_conv.py [--batch 16] [--repeat 10] [--policy float32]

Prints each one's time, its ratio to plain, and its largest difference from plain (each
kernel is derived from the 9x9 one in the graph, so gradients reach the same weights).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dcgan_sr.speed_layers import NearestUpConv2D, subpixel_phases


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=10, help="timed steps of each (default 10)")
    parser.add_argument("--policy", default="float32", choices=("float32", "bfloat16"))
    args = parser.parse_args(argv)

    from dcgan_sr.runtime import start_tensorflow
    start_tensorflow()
    import tensorflow as tf

    dtype = tf.dtypes.as_dtype(args.policy)
    rng = np.random.default_rng(0)
    low = tf.constant(rng.normal(size=(args.batch, 64, 64, 64)), dtype)
    high = tf.repeat(tf.repeat(low, 2, axis=1), 2, axis=2)  # nearest x2, as the seed's up2
    weights = tf.Variable(rng.normal(size=(9, 9, 64, 3)).astype(np.float32) * 0.02)
    by_input = tf.constant(subpixel_phases(9, input_phases=True))
    side = by_input.shape[-1]
    layer = NearestUpConv2D(3, 9, padding="same", use_bias=False,
                            dtype="float32" if args.policy == "float32" else "mixed_bfloat16")
    layer.build(low.shape)
    layer.kernel.assign(weights)

    def plain(x):
        return tf.nn.conv2d(x, tf.cast(weights, dtype), 1, "SAME")

    def phases(x):
        k = tf.einsum("acus,bevt,uvio->stceiabo", by_input, by_input, weights)
        k = tf.cast(tf.reshape(k, (side, side, 4 * 64, 12)), dtype)
        return tf.nn.depth_to_space(tf.nn.conv2d(tf.nn.space_to_depth(x, 2), k, 1, "SAME"), 2)

    inputs = {"plain": high, "phases": high, "nearest": low}
    kernels = {"plain": weights, "phases": weights, "nearest": layer.kernel.value}
    reference = plain(high)
    times = {}
    for name, form in (("plain", plain), ("phases", phases), ("nearest", layer)):
        x = inputs[name]

        @tf.function
        def step(x, form=form, kernel=kernels[name]):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.cast(form(x), tf.float32)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, [x, kernel])

        [g.numpy() for g in step(x)]  # trace, compile, warm
        start = time.perf_counter()
        for _ in range(args.repeat):
            [g.numpy() for g in step(x)]
        times[name] = (time.perf_counter() - start) / args.repeat
        apart = float(tf.reduce_max(tf.abs(tf.cast(form(x), tf.float32) - tf.cast(reference, tf.float32))))
        print(f"{name:8s} {times[name] * 1000:7.1f} ms forward+backward  {times['plain'] / times[name]:4.2f}x"
              f"  largest difference from plain {apart:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
