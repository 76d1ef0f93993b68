"""The weight and bias gradients of each of the seed's convolutions (G's and D's, batch 16),
as Keras' Conv2D computes them on TensorFlow (a BiasAdd, whose gradient oneDNN fuses into
the kernel's: Conv2DBackpropFilterWithBias) and as speed_layers.SeparateBiasConv2D does (a
broadcast add: Conv2DBackpropFilter and a separate sum). Each is timed in one tf.function,
the two in turn, the best of --repeat runs counting.

    python benchmarks/bias_gradient.py [--batch 16] [--repeat 7]

Prints each layer's two times and their ratio, and the sums over the layers.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def best_seconds(run, repeat: int) -> float:
    run()  # trace, choose kernels, warm
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each (default 7)")
    args = parser.parse_args(argv)

    from dcgan_sr.runtime import start_tensorflow
    start_tensorflow()
    import keras
    import tensorflow as tf

    from dcgan_sr.models import build_discriminator, build_generator
    from dcgan_sr.speed_layers import SeparateBiasConv2D, for_training

    rng = np.random.default_rng(0)
    rows, totals = [], np.zeros(2)
    for model, size in ((for_training(build_generator()), 32),
                        (for_training(build_discriminator()), 128)):
        probe = keras.Model(model.input, [layer.input for layer in model.layers
                                          if type(layer) is SeparateBiasConv2D])
        shapes = [tuple(t.shape[1:]) for t in probe(np.zeros((1, size, size, 3), np.float32))]
        convs = [layer for layer in model.layers if type(layer) is SeparateBiasConv2D]
        for layer, shape in zip(convs, shapes):
            x = tf.constant(rng.normal(size=(args.batch, *shape)), tf.float32)
            seconds = []
            for cls in (keras.layers.Conv2D, SeparateBiasConv2D):
                conv = cls.from_config(layer.get_config())
                upstream = tf.constant(rng.normal(size=conv.compute_output_shape(x.shape)),
                                       tf.float32)

                @tf.function
                def gradients(conv=conv, upstream=upstream):
                    with tf.GradientTape() as tape:
                        loss = tf.reduce_sum(conv(x, training=True) * upstream)
                    return tape.gradient(loss, [conv.kernel, conv.bias])

                seconds.append(best_seconds(lambda: [g.numpy() for g in gradients()], args.repeat))
            totals += seconds
            fused, apart = seconds
            rows.append(f"{model.name[0].upper()} {layer.name:16s} {str(shape):16s} "
                        f"{fused * 1e3:8.2f} {apart * 1e3:8.2f} {fused / apart:6.2f}x")
    print(f"{'layer':18s} {'input (H, W, C)':16s} {'fused ms':>8s} {'apart ms':>8s}  ratio")
    print("\n".join(rows))
    print(f"{'all':35s} {totals[0] * 1e3:8.2f} {totals[1] * 1e3:8.2f} {totals[0] / totals[1]:6.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
