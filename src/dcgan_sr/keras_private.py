"""The private parts of Keras this package relies on, in one place (tests/test_keras_private.py
fails on a Keras release that changes them; requirements.txt pins the tested one).

Keras has no public API yet for a model with two optimisers, nor for reading an
optimiser's moving average of the weights without overwriting them
(`finalize_variable_values` does that, for good).
"""

from __future__ import annotations

import keras


class BothOptimizers:
    """What Keras' trainers read of `model.optimizer`, for a model with two: `built`, the
    variables of both (the JAX trainer threads them through train_step) and the step
    count; and `optimizers`, which `keras.callbacks.SwapEMAWeights` swaps the EMA of."""

    built = True

    def __init__(self, g_optimizer, d_optimizer):
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer

    @property
    def variables(self):
        return [*self.g_optimizer.variables, *self.d_optimizer.variables]

    @property
    def iterations(self):
        return self.g_optimizer.iterations

    @property
    def optimizers(self):
        """Both, unwrapped from loss scaling."""
        return [getattr(o, "inner_optimizer", o) for o in (self.g_optimizer, self.d_optimizer)]


def moving_averages(optimizer: keras.optimizers.Optimizer) -> list:
    """The EMA of the weights an optimiser built with `use_ema=True` updates, in the order
    of the variables it was built with."""
    return optimizer._model_variables_moving_average
