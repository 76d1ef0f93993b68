"""The GAN as one keras.Model: G and D, two optimisers, and a custom train_step.

Losses (the seed's, with its label noise u ~ U(0, 1)):

    D loss = BCE(D(hr), 1 - noise*u) + BCE(D(G(lr)), noise*u)
    G loss = adv_weight * BCE(D(G(lr)), 1 - noise*u) + mse_weight * MSE(G(lr), hr)

The seed's order within a batch (`update_order="d_then_g"`, the default): D learns from
the batch first, on G's outputs made in inference mode; then G learns through the D just
updated, which it sees in inference mode (the seed's frozen D). The seed made two D
updates, on fakes and then on reals; here D makes one, on their sum.
`update_order="simultaneous"` updates both from one forward pass instead, D in training
mode for both (TensorFlow's DCGAN tutorial; the presets were trained so).

`gan_loss` and `content_loss` swap in other adversarial losses and add a content loss
(weighted by `content_weight`); see `dcgan_sr.losses`. `r1_weight` adds the R1 penalty to
D's loss. While `adversarial` is False (the MSE warm-up, as SRGAN pre-trains its
generator) only G learns, from the MSE (and the content loss) alone.

The losses are written once, in `generator_loss` and `discriminator_loss`. The
TensorFlow step differentiates them with gradient tapes; the JAX step evaluates the same
methods inside a `keras.StatelessScope` that maps every variable to the value being
differentiated, as the Keras guide to custom steps with JAX does with `stateless_call`.

A batch is either uint8 HR crops, whose LR inputs are made here on the device by the
degradation protocol (what training feeds), or an (lr, hr) pair in [-1, 1].
"""

from __future__ import annotations

import contextlib

import keras
from keras import ops

from dcgan_sr import face_descriptor, losses
from dcgan_sr.config import Config
from dcgan_sr.keras_private import BothOptimizers, moving_averages
from dcgan_sr.metrics import BORDER
from dcgan_sr.pixels import to_pixels
from dcgan_sr.resize import pairs_from_hr


# What a training step can log (each phase logs those it computes), and so history.csv's columns.
TERMS = ("g_loss", "mse", "content", "adv", "r1", "d_loss", "d_real", "d_fake")


def validation_psnr(sr, hr, crop: int = BORDER):
    """Per-image PSNR (dB) of two batches in [-1, 1] on the device, borders of `crop` pixels
    left out: what `fit` logs as val_psnr (dcgan_sr.metrics.psnr is the reported one, on
    uint8 images, with the same border)."""
    sr = ops.clip(to_pixels(sr), 0.0, 255.0)[:, crop:-crop, crop:-crop]
    hr = to_pixels(hr)[:, crop:-crop, crop:-crop]
    mse = ops.mean(ops.square(sr - hr), axis=(1, 2, 3))
    return 10.0 * ops.log10(255.0 ** 2 / ops.maximum(mse, 1e-10))


def _check_discriminator_head(discriminator: keras.Model, gan_loss: str) -> None:
    """Refuse a D whose last activation does not suit the loss (a sigmoid's probabilities
    read as logits, or the reverse, trains wrongly without an error)."""
    activation = getattr(discriminator.layers[-1], "activation", None)
    if activation is None:  # a head this check cannot read
        return
    logits = losses.ADVERSARIAL[gan_loss].logits
    if (activation is keras.activations.sigmoid) == logits:
        raise ValueError(f"the {gan_loss} loss reads {'logits' if logits else 'probabilities'}: "
                         f"build the discriminator with build_discriminator(config, logits={logits})")


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


class _TensorFlowSteps:
    """SRGAN's steps under TensorFlow: gradient tapes."""

    def train_step(self, data):
        import tensorflow as tf

        lr, hr = self._batch(data)
        if self.adversarial and self.config.update_order == "simultaneous":
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                (g_loss, d_loss), logs = self._joint_step(lr, hr)
            self._apply(self.g_optimizer, g_tape.gradient(g_loss, self.generator.trainable_variables),
                        self.generator)
            self._apply(self.d_optimizer, d_tape.gradient(d_loss, self.discriminator.trainable_variables),
                        self.discriminator)
            return self._update_trackers(logs)
        logs = {}
        if self.adversarial:  # the seed's order: D first...
            with tf.GradientTape() as tape:
                d_loss, logs = self._discriminator_step(lr, hr)
            self._apply(self.d_optimizer, tape.gradient(d_loss, self.discriminator.trainable_variables),
                        self.discriminator)
        with tf.GradientTape() as tape:  # ...then G, through the D just updated
            g_loss, g_logs = self._generator_step(lr, hr)
        self._apply(self.g_optimizer, tape.gradient(g_loss, self.generator.trainable_variables),
                    self.generator)
        return self._update_trackers(logs | g_logs)

    @staticmethod
    def _apply(optimizer, gradients, network):
        optimizer.apply_gradients(zip(gradients, network.trainable_variables))

    def test_step(self, data):
        return self._update_trackers(self._validate(data))

    @staticmethod
    def _gradient(function, x):
        """d function(x) / dx."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            out = function(x)
        return tape.gradient(out, x)


class _JaxSteps:
    """SRGAN's steps under JAX: the same losses, evaluated with the values being
    differentiated (stateless)."""

    def train_step(self, state, data):
        import jax

        trainable, non_trainable, optimizer_values, metric_values = state
        # The GAN's variables are G's, then D's (checked in __init__); so are the optimisers'.
        n_g, n_g_opt = len(self.generator.trainable_variables), len(self.g_optimizer.variables)
        g_values, d_values = trainable[:n_g], trainable[n_g:]
        g_opt, d_opt = optimizer_values[:n_g_opt], optimizer_values[n_g_opt:]
        lr, hr = self._batch(data)

        def evaluated(step_losses, g_values, d_values, non_trainable):
            """step_losses(lr, hr) with these values: (losses, (logs, non-trainables after))."""
            mapping = [*zip(self.trainable_variables, [*g_values, *d_values]),
                       *zip(self.non_trainable_variables, non_trainable)]
            with keras.StatelessScope(state_mapping=mapping) as scope:
                loss, logs = step_losses(lr, hr)
            return loss, (logs, _values_after(scope, self.non_trainable_variables, non_trainable))

        if self.adversarial and self.config.update_order == "simultaneous":
            (g_loss, d_loss), pullback, (logs, non_trainable) = jax.vjp(
                lambda g, d: evaluated(self._joint_step, g, d, non_trainable),
                g_values, d_values, has_aux=True)
            g_grads, _ = pullback((ops.ones_like(g_loss), ops.zeros_like(d_loss)))
            _, d_grads = pullback((ops.zeros_like(g_loss), ops.ones_like(d_loss)))
            d_values, d_opt = self.d_optimizer.stateless_apply(d_opt, d_grads, d_values)
        else:
            logs = {}
            if self.adversarial:  # the seed's order: D first...
                (_, (logs, non_trainable)), d_grads = jax.value_and_grad(
                    lambda d: evaluated(self._discriminator_step, g_values, d, non_trainable),
                    has_aux=True)(d_values)
                d_values, d_opt = self.d_optimizer.stateless_apply(d_opt, d_grads, d_values)
            (_, (g_logs, non_trainable)), g_grads = jax.value_and_grad(  # ...then G
                lambda g: evaluated(self._generator_step, g, d_values, non_trainable),
                has_aux=True)(g_values)
            logs = logs | g_logs
        g_values, g_opt = self.g_optimizer.stateless_apply(g_opt, g_grads, g_values)

        with keras.StatelessScope(state_mapping=list(zip(self.metrics_variables,
                                                         metric_values))) as scope:
            results = self._update_trackers(logs)
        metric_values = _values_after(scope, self.metrics_variables, metric_values)
        return results, ([*g_values, *d_values], non_trainable, [*g_opt, *d_opt], metric_values)

    def test_step(self, state, data):
        trainable, non_trainable, metric_values = state
        mapping = [*zip(self.trainable_variables, trainable),
                   *zip(self.non_trainable_variables, non_trainable),
                   *zip(self.metrics_variables, metric_values)]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            results = self._update_trackers(self._validate(data))
        metric_values = _values_after(scope, self.metrics_variables, metric_values)
        return results, (trainable, non_trainable, metric_values)

    @staticmethod
    def _gradient(function, x):
        """d function(x) / dx."""
        import jax
        return jax.grad(function)(x)


# Chosen once: the Keras backend is fixed for the process.
_BackendSteps = _JaxSteps if keras.backend.backend() == "jax" else _TensorFlowSteps


class SRGAN(_BackendSteps, keras.Model):
    def __init__(self, generator: keras.Model, discriminator: keras.Model, config: Config,
                 vgg_weights: str | None = "imagenet", **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.config = config
        _check_discriminator_head(discriminator, config.gan_loss)
        self.adversarial = config.pretrain_steps == 0
        self.noise_seed = keras.random.SeedGenerator(config.seed)
        self.content_features = None
        if config.content_loss == "dfeat":
            self.content_features = losses.discriminator_features(discriminator)
        elif config.content_loss == "vgg":
            self.content_features = losses.vgg_features(vgg_weights)
        elif config.content_loss == "identity":
            self.content_features = face_descriptor.identity_features()
        self.trackers = {name: keras.metrics.Mean(name=name) for name in (*TERMS, "psnr")}
        self.built = True  # G and D are built: save_weights may checkpoint the whole GAN
        # The JAX step takes the first len(G's) trainable values as G's, the rest as D's.
        expected = [*generator.trainable_variables, *discriminator.trainable_variables]
        if len(self.trainable_variables) != len(expected) or any(
                a is not b for a, b in zip(self.trainable_variables, expected)):
            raise RuntimeError("SRGAN's trainable variables are not G's followed by D's")

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        super().compile(**kwargs)
        config = self.config
        g_optimizer = g_optimizer or keras.optimizers.Adam(
            config.g_learning_rate, beta_1=config.g_beta_1, use_ema=config.ema_decay > 0,
            ema_momentum=config.ema_decay or 0.99)
        d_optimizer = d_optimizer or keras.optimizers.RMSprop(config.d_learning_rate,
                                                              clipvalue=config.d_clipvalue)
        if keras.config.dtype_policy().name == "mixed_float16":  # float16 needs loss scaling
            g_optimizer = keras.optimizers.LossScaleOptimizer(g_optimizer)
            d_optimizer = keras.optimizers.LossScaleOptimizer(d_optimizer)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        # Built now, so that a checkpoint restores their slots on a fresh start.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.optimizer = BothOptimizers(self.g_optimizer, self.d_optimizer)
        self.set_adversarial(self.adversarial)  # G's learning rate for the starting phase

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def step(self):
        """Training steps done, warm-up included (G is updated on every step)."""
        return self.g_optimizer.iterations

    def call(self, lr, training=False):
        """G's output as float32, what every loss and metric reads (under mixed precision
        G's last convolution computes in bfloat16 or float16)."""
        return ops.cast(self.generator(lr, training=training), "float32")

    def set_adversarial(self, adversarial: bool) -> None:
        """Switch phase (and G's learning rate and beta_1); the next fit() traces anew."""
        config = self.config
        self.adversarial = adversarial
        adam = self._g_adam
        adam.learning_rate.assign(config.g_learning_rate if adversarial else config.pretrain_learning_rate)
        adam.beta_1 = config.g_beta_1 if adversarial else config.pretrain_beta_1
        self.make_train_function(force=True)  # the step depends on the phase

    @contextlib.contextmanager
    def averaged_generator(self):
        """G as it is evaluated and exported: with EMA, its weights' moving average is
        swapped in for the duration, and the raw weights put back exactly afterwards."""
        if not self._g_adam.use_ema:
            yield self.generator
            return
        variables = self.generator.trainable_variables
        raw = [ops.convert_to_numpy(v) for v in variables]
        for v, average in zip(variables, moving_averages(self._g_adam)):
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

    # --- the losses: one definition for both backends ------------------------------------

    def generator_loss(self, sr, hr, d_real=None, d_fake=None):
        """G's loss and its terms. Given D's outputs on real and super-resolved faces, the
        adversarial term joins the MSE (else, in the warm-up, the MSE alone)."""
        config = self.config
        mse = ops.mean(ops.square(sr - hr))
        terms, loss = {"mse": mse}, mse
        if d_fake is not None:
            terms["adv"] = losses.ADVERSARIAL[config.gan_loss].generator(d_real, d_fake, self._noisy)
            loss = config.adv_weight * terms["adv"] + config.mse_weight * mse
        if config.content_loss != "none":
            terms["content"] = losses.CONTENT[config.content_loss](sr, hr, self.content_features)
            loss = loss + config.content_weight * terms["content"]
        return loss, terms | {"g_loss": loss}

    def discriminator_loss(self, hr, d_real, d_fake):
        """D's loss and its terms: real faces towards 1, super-resolved ones towards 0 (the
        seed's noisy targets), plus the R1 penalty on real faces if `r1_weight`."""
        config = self.config
        loss = losses.ADVERSARIAL[config.gan_loss].discriminator(d_real, d_fake, self._noisy)
        terms = {"d_real": ops.mean(d_real), "d_fake": ops.mean(d_fake)}
        if config.r1_weight:
            terms["r1"] = ops.mean(ops.sum(ops.square(self._d_input_gradient(hr)), axis=(1, 2, 3)))
            loss = loss + 0.5 * config.r1_weight * terms["r1"]
        return loss, terms | {"d_loss": loss}

    def _noisy(self, like, target: float):
        u = keras.random.uniform(ops.shape(like), seed=self.noise_seed)
        noise = self.config.label_noise * u
        return 1.0 - noise if target == 1.0 else noise

    # --- one step's losses, as each update order needs them -----------------------------

    def _discriminator_step(self, lr, hr):
        """D's loss on this batch, G fixed and in inference mode (the seed's order, first)."""
        sr = ops.stop_gradient(self.call(lr, training=False))
        d_real = self.discriminator(hr, training=True)
        d_fake = self.discriminator(sr, training=True)
        loss, logs = self.discriminator_loss(hr, d_real, d_fake)
        return self._for_optimizer(loss, self.d_optimizer), logs

    def _generator_step(self, lr, hr):
        """G's loss on this batch; in the adversarial phase through D as it now is, frozen
        in inference mode (the seed's order, second)."""
        sr = self.call(lr, training=True)
        d_real = d_fake = None
        if self.adversarial:
            if losses.ADVERSARIAL[self.config.gan_loss].generator_reads_real:  # RaGAN
                d_real = self.discriminator(hr, training=False)
            d_fake = self.discriminator(sr, training=False)
        loss, logs = self.generator_loss(sr, hr, d_real, d_fake)
        return self._for_optimizer(loss, self.g_optimizer), logs

    def _joint_step(self, lr, hr):
        """Both losses from one forward pass, D in training mode (update_order "simultaneous")."""
        sr = self.call(lr, training=True)
        d_real = self.discriminator(hr, training=True)
        d_fake = self.discriminator(sr, training=True)
        g_loss, g_logs = self.generator_loss(sr, hr, d_real, d_fake)
        d_loss, d_logs = self.discriminator_loss(hr, d_real, d_fake)
        return ((self._for_optimizer(g_loss, self.g_optimizer),
                 self._for_optimizer(d_loss, self.d_optimizer)), g_logs | d_logs)

    def _for_optimizer(self, loss, optimizer):
        """The loss an optimiser differentiates: split over the replicas in sync (their
        gradients are summed) and scaled for float16."""
        return optimizer.scale_loss(loss / _replicas())

    def _d_input_gradient(self, images):
        """The gradient of D's summed output with respect to its input (for R1): D in
        training mode, called statelessly so that its statistics are not updated twice."""
        d = self.discriminator
        trainable = [v.value for v in d.trainable_variables]  # in a StatelessScope: its values
        non_trainable = [v.value for v in d.non_trainable_variables]

        def total(x):
            return ops.sum(d.stateless_call(trainable, non_trainable, x, training=True)[0])
        return self._gradient(total, images)

    def _batch(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        return pairs_from_hr(x) if y is None else (x, y)

    def _update_trackers(self, logs) -> dict:
        """Add this step's values to the running means; the means of the terms logged."""
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in logs}

    # --- validation ----------------------------------------------------------------------

    def _validate(self, data):
        lr, hr = self._batch(data)
        sr = self.call(lr, training=False)
        return {"psnr": validation_psnr(sr, hr), "mse": ops.mean(ops.square(sr - hr))}
