"""The GAN as one keras.Model: G and D, two optimisers, and a custom train_step.

Losses (the seed's, with its label noise u ~ U(0, 1)):

    D loss = BCE(D(hr), 1 - noise*u) + BCE(D(G(lr)), noise*u)
    G loss = adv_weight * BCE(D(G(lr)), 1 - noise*u) + mse_weight * MSE(G(lr), hr)

`gan_loss` and `content_loss` swap in other adversarial losses and add a content
loss (weighted by `content_weight`); see `dcgan_sr.losses`. `r1_weight` adds the
R1 penalty to D's loss.

While `adversarial` is False (the MSE warm-up, as SRGAN pre-trains its
generator) only G is trained, on the MSE alone. D and G are updated from the
same forward pass: one gradient tape each on TensorFlow, one `jax.vjp` pulled
back twice on JAX. `_step_losses` is the one definition of the losses for both.

A batch is either uint8 HR crops, whose LR inputs are made here on the device by
the degradation protocol (what training feeds), or an (lr, hr) pair in [-1, 1].
"""

from __future__ import annotations

import contextlib

import keras
from keras import ops

from dcgan_sr import losses
from dcgan_sr.config import Config
from dcgan_sr.data import SCALE
from dcgan_sr.resize import downscale_bicubic


def psnr(sr, hr, crop: int = 4):
    """Per-image PSNR (dB) of two batches in [-1, 1], borders of `crop` pixels left out."""
    sr = ops.clip((sr + 1.0) * 127.5, 0.0, 255.0)[:, crop:-crop, crop:-crop]
    hr = ((hr + 1.0) * 127.5)[:, crop:-crop, crop:-crop]
    mse = ops.mean(ops.square(sr - hr), axis=(1, 2, 3))
    return 10.0 * ops.log10(255.0 ** 2 / ops.maximum(mse, 1e-10))


def pairs_from_hr(hr_uint8):
    """uint8 HR batch -> (lr, hr) in [-1, 1]; LR by the protocol (antialiased bicubic,
    rounded to uint8), computed on the device by whichever backend runs the step."""
    hr = ops.cast(hr_uint8, "float32")
    lr = ops.clip(ops.round(downscale_bicubic(hr, SCALE)), 0.0, 255.0)
    return lr / 127.5 - 1.0, hr / 127.5 - 1.0


def _replicas() -> int:
    """Replicas a TensorFlow distribution strategy splits the global batch over (else 1)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def _values_after(scope, variables, before):
    """Each variable's value at the end of a StatelessScope: assigned there, else as before."""
    after = [scope.get_current_value(v) for v in variables]
    return [old if new is None else new for old, new in zip(before, after)]


class _BothOptimizers:
    """What Keras's trainers read of `model.optimizer`, for a model with two: the
    variables of both (the JAX trainer threads them through train_step) and the step."""

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
        """Both, unwrapped from loss scaling: what keras.callbacks.SwapEMAWeights swaps."""
        return [getattr(o, "inner_optimizer", o) for o in (self.g_optimizer, self.d_optimizer)]


class SRGAN(keras.Model):
    def __init__(self, generator: keras.Model, discriminator: keras.Model, config: Config,
                 vgg_weights: str | None = "imagenet", **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.config = config
        self.adversarial = config.pretrain_steps == 0
        self.noise_seed = keras.random.SeedGenerator(config.seed)
        self.content_features = None
        if config.content_loss == "dfeat":
            self.content_features = losses.discriminator_features(discriminator)
        elif config.content_loss == "vgg":
            self.content_features = losses.vgg_features(vgg_weights)
        names = ["g_loss", "mse", "content", "adv", "r1", "d_loss", "d_real", "d_fake", "psnr"]
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.built = True  # G and D are built: save_weights may checkpoint the whole GAN

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        super().compile(**kwargs)
        c = self.config
        g_optimizer = g_optimizer or keras.optimizers.Adam(
            c.g_learning_rate, beta_1=c.g_beta_1, use_ema=c.ema_decay > 0,
            ema_momentum=c.ema_decay or 0.99)
        d_optimizer = d_optimizer or keras.optimizers.RMSprop(c.d_learning_rate,
                                                              clipvalue=c.d_clipvalue)
        if keras.config.dtype_policy().name == "mixed_float16":  # float16 needs loss scaling
            g_optimizer = keras.optimizers.LossScaleOptimizer(g_optimizer)
            d_optimizer = keras.optimizers.LossScaleOptimizer(d_optimizer)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        # Built now, so that a checkpoint restores their slots on a fresh start.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.optimizer = _BothOptimizers(self.g_optimizer, self.d_optimizer)
        self.set_adversarial(self.adversarial)  # G's learning rate for the starting phase

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def step(self):
        """Training steps done, warm-up included (G is updated on every step)."""
        return self.g_optimizer.iterations

    def call(self, lr, training=False):
        return self.generator(lr, training=training)

    def set_adversarial(self, adversarial: bool) -> None:
        """Switch phase (and G's learning rate and beta_1); the next fit() traces anew."""
        c = self.config
        self.adversarial = adversarial
        adam = self._g_adam
        adam.learning_rate.assign(c.g_learning_rate if adversarial else c.pretrain_learning_rate)
        adam.beta_1 = c.g_beta_1 if adversarial else c.pretrain_beta_1
        self.train_function = None

    @contextlib.contextmanager
    def averaged_generator(self):
        """G as it is evaluated and exported: with EMA, its weights' moving average is
        swapped in for the duration, and the raw weights put back exactly afterwards."""
        if not self._g_adam.use_ema:
            yield self.generator
            return
        variables = self.generator.trainable_variables
        raw = [ops.convert_to_numpy(v) for v in variables]
        for v, average in zip(variables, self._g_adam._model_variables_moving_average):
            v.assign(average)
        try:
            yield self.generator
        finally:
            for v, value in zip(variables, raw):
                v.assign(value)

    @property
    def _g_adam(self) -> keras.optimizers.Adam:
        """G's Adam, inside its LossScaleOptimizer under mixed_float16."""
        return self.optimizer.optimizers[0]

    def _noisy(self, like, target: float):
        u = keras.random.uniform(ops.shape(like), seed=self.noise_seed)
        noise = self.config.label_noise * u
        return 1.0 - noise if target == 1.0 else noise

    # --- losses: one definition for both backends --------------------------------------

    def _step_losses(self, lr, hr, r1_penalty=None):
        """(G loss, D loss or None, logs) from one forward pass; each loss is divided by
        the replicas in sync, so that the optimisers' sum over replicas is the global mean."""
        c = self.config
        sr = self.generator(lr, training=True)
        mse = ops.mean(ops.square(sr - hr))
        logs = {"mse": mse}
        g_loss, d_loss = mse, None
        if self.adversarial:
            d_real = self.discriminator(hr, training=True)
            d_fake = self.discriminator(sr, training=True)
            d_loss, adv = losses.adversarial_losses(c.gan_loss, d_real, d_fake, self._noisy)
            g_loss = c.adv_weight * adv + c.mse_weight * mse
            logs.update(adv=adv, d_real=ops.mean(d_real), d_fake=ops.mean(d_fake))
            if c.r1_weight:
                r1 = r1_penalty(hr)
                d_loss = d_loss + 0.5 * c.r1_weight * r1
                logs["r1"] = r1
            logs["d_loss"] = d_loss
        if c.content_loss != "none":
            content = losses.content_loss(c.content_loss, sr, hr, self.content_features)
            g_loss = g_loss + c.content_weight * content
            logs["content"] = content
        logs["g_loss"] = g_loss
        replicas = _replicas()
        if replicas > 1:
            g_loss = g_loss / replicas
            d_loss = None if d_loss is None else d_loss / replicas
        return g_loss, d_loss, logs

    def _batch(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        return pairs_from_hr(x) if y is None else (x, y)

    def _log(self, logs):
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in logs}

    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._jax_train_step(*args)
        return self._tf_train_step(*args)

    # --- TensorFlow: two gradient tapes ----------------------------------------------

    def _tf_train_step(self, data):
        import tensorflow as tf

        def r1_penalty(hr):
            with tf.GradientTape() as tape:
                tape.watch(hr)
                out = ops.sum(self.discriminator(hr, training=True))
            grad = tape.gradient(out, hr)
            return ops.mean(ops.sum(ops.square(grad), axis=(1, 2, 3)))

        lr, hr = self._batch(data)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            g_loss, d_loss, logs = self._step_losses(lr, hr, r1_penalty)
            g_scaled = self.g_optimizer.scale_loss(g_loss)
            d_scaled = None if d_loss is None else self.d_optimizer.scale_loss(d_loss)
        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_scaled, g_vars), g_vars))
        if d_loss is not None:
            d_vars = self.discriminator.trainable_variables
            self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_scaled, d_vars), d_vars))
        return self._log(logs)

    # --- JAX: stateless calls, one forward pass, two pullbacks ------------------------

    def _jax_train_step(self, state, data):
        import jax

        trainable, non_trainable, optimizer_values, metric_values = state
        variables = self.trainable_variables
        g_ids = {id(v) for v in self.generator.trainable_variables}
        is_g = [id(v) in g_ids for v in variables]
        g_values = [x for x, g in zip(trainable, is_g) if g]
        d_values = [x for x, g in zip(trainable, is_g) if not g]

        def merged(g_vals, d_vals):
            g_it, d_it = iter(g_vals), iter(d_vals)
            return [next(g_it) if g else next(d_it) for g in is_g]

        d_variables = self.discriminator.trainable_variables
        d_state = self.discriminator.non_trainable_variables
        lr, hr = self._batch(data)

        def forward(g_vals, d_vals):
            mapping = [*zip(variables, merged(g_vals, d_vals)),
                       *zip(self.non_trainable_variables, non_trainable)]
            values = {id(v): x for v, x in mapping}

            def r1_penalty(images):
                # A nested stateless call: D's statistics updates here are discarded.
                def d_sum(x):
                    out, _ = self.discriminator.stateless_call(
                        [values[id(v)] for v in d_variables], [values[id(v)] for v in d_state],
                        x, training=True)
                    return ops.sum(out)
                grad = jax.grad(d_sum)(images)
                return ops.mean(ops.sum(ops.square(grad), axis=(1, 2, 3)))

            with keras.StatelessScope(state_mapping=mapping) as scope:
                g_loss, d_loss, logs = self._step_losses(lr, hr, r1_penalty)
                g_scaled = self.g_optimizer.scale_loss(g_loss)
                d_scaled = (ops.zeros(()) if d_loss is None
                            else self.d_optimizer.scale_loss(d_loss))
            updated = _values_after(scope, self.non_trainable_variables, non_trainable)
            return (g_scaled, d_scaled), (logs, updated)

        (g_scaled, d_scaled), pullback, (logs, non_trainable) = jax.vjp(
            forward, g_values, d_values, has_aux=True)
        one, zero = ops.ones_like(g_scaled), ops.zeros_like(d_scaled)
        g_grads, _ = pullback((one, zero))
        n_g = len(self.g_optimizer.variables)
        g_values, g_opt = self.g_optimizer.stateless_apply(
            optimizer_values[:n_g], g_grads, g_values)
        d_opt = optimizer_values[n_g:]
        if self.adversarial:
            _, d_grads = pullback((ops.zeros_like(g_scaled), ops.ones_like(d_scaled)))
            d_values, d_opt = self.d_optimizer.stateless_apply(d_opt, d_grads, d_values)

        with keras.StatelessScope(state_mapping=list(zip(self.metrics_variables,
                                                         metric_values))) as scope:
            results = self._log(logs)
        metric_values = _values_after(scope, self.metrics_variables, metric_values)
        state = (merged(g_values, d_values), non_trainable, [*g_opt, *d_opt], metric_values)
        return results, state

    # --- validation ----------------------------------------------------------------------

    def _validate(self, data):
        lr, hr = self._batch(data)
        sr = self.generator(lr, training=False)
        return {"psnr": psnr(sr, hr), "mse": ops.mean(ops.square(sr - hr))}

    def test_step(self, *args):
        if keras.backend.backend() == "jax":
            state, data = args
            trainable, non_trainable, metric_values = state
            mapping = [*zip(self.trainable_variables, trainable),
                       *zip(self.non_trainable_variables, non_trainable),
                       *zip(self.metrics_variables, metric_values)]
            with keras.StatelessScope(state_mapping=mapping) as scope:
                results = self._log(self._validate(data))
            metric_values = _values_after(scope, self.metrics_variables, metric_values)
            return results, (trainable, non_trainable, metric_values)
        return self._log(self._validate(args[0]))
