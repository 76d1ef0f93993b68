"""The private Keras this package relies on (dcgan_sr.keras_private) still works: a Keras
release that changes it fails here, not in the middle of a training run."""

import keras
import numpy as np

from dcgan_sr.keras_private import moving_averages


def test_the_moving_average_of_an_ema_optimizer_is_readable_and_follows_the_weights():
    weights = [keras.Variable(np.ones((2, 2), np.float32)), keras.Variable(np.zeros(3, np.float32))]
    adam = keras.optimizers.Adam(0.1, use_ema=True, ema_momentum=0.5)
    adam.build(weights)
    averages = moving_averages(adam)
    assert [tuple(a.shape) for a in averages] == [(2, 2), (3,)]
    adam.apply_gradients(zip([np.ones((2, 2), np.float32), np.ones(3, np.float32)], weights))
    # Keras' EMA: average = momentum * average + (1 - momentum) * weight, after the update.
    # The first update copies the weights in (the average starts at them).
    assert np.allclose(keras.ops.convert_to_numpy(averages[0]), keras.ops.convert_to_numpy(weights[0]))
    before = keras.ops.convert_to_numpy(averages[1]).copy()
    adam.apply_gradients(zip([np.ones((2, 2), np.float32), np.ones(3, np.float32)], weights))
    expected = 0.5 * before + 0.5 * keras.ops.convert_to_numpy(weights[1])
    assert np.allclose(keras.ops.convert_to_numpy(averages[1]), expected, atol=1e-6)
