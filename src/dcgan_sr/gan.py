"""The GAN as one keras.Model: G and D, two optimisers, and a custom train_step.

Losses (the seed's, with its label noise u ~ U(0, 1)):

    D loss = BCE(D(hr), 1 - noise*u) + BCE(D(G(lr)), noise*u)
    G loss = adv_weight * BCE(D(G(lr)), 1 - noise*u) + mse_weight * MSE(G(lr), hr)

`gan_loss` and `content_loss` swap in other adversarial losses and add a content
loss (weighted by `content_weight`); see `dcgan_sr.losses`.

While `adversarial` is False (the MSE warm-up, as SRGAN pre-trains its
generator) only G is trained, on the MSE alone. D and G are updated from the
same forward pass, each on its own gradient tape, as in TensorFlow's DCGAN
tutorial.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from dcgan_sr import losses
from dcgan_sr.config import Config


def psnr(sr, hr, crop: int = 4):
    """Per-image PSNR (dB) of two batches in [-1, 1], borders of `crop` pixels left out."""
    sr = ops.clip((sr + 1.0) * 127.5, 0.0, 255.0)[:, crop:-crop, crop:-crop]
    hr = ((hr + 1.0) * 127.5)[:, crop:-crop, crop:-crop]
    mse = ops.mean(ops.square(sr - hr), axis=(1, 2, 3))
    return 10.0 * ops.log10(255.0 ** 2 / ops.maximum(mse, 1e-10))


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
        names = ["g_loss", "mse", "content", "adv", "d_loss", "d_real", "d_fake", "psnr"]
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        super().compile(**kwargs)
        c = self.config
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(c.g_learning_rate, beta_1=c.g_beta_1)
        self.d_optimizer = d_optimizer or keras.optimizers.RMSprop(c.d_learning_rate,
                                                                   clipvalue=c.d_clipvalue)
        # Built now, so that a checkpoint restores their slots on a fresh start.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
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
        self.g_optimizer.learning_rate.assign(
            c.g_learning_rate if adversarial else c.pretrain_learning_rate)
        self.g_optimizer.beta_1 = c.g_beta_1 if adversarial else c.pretrain_beta_1
        self.train_function = None

    def _noisy(self, like, target: float):
        u = keras.random.uniform(ops.shape(like), seed=self.noise_seed)
        noise = self.config.label_noise * u
        return 1.0 - noise if target == 1.0 else noise

    def train_step(self, data):
        lr, hr, _ = keras.utils.unpack_x_y_sample_weight(data)
        c = self.config
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            sr = self.generator(lr, training=True)
            mse = ops.mean(ops.square(sr - hr))
            content = (losses.content_loss(c.content_loss, sr, hr, self.content_features)
                       if c.content_loss != "none" else None)
            if self.adversarial:
                d_real = self.discriminator(hr, training=True)
                d_fake = self.discriminator(sr, training=True)
                d_loss, adv = losses.adversarial_losses(c.gan_loss, d_real, d_fake, self._noisy)
                g_loss = c.adv_weight * adv + c.mse_weight * mse
            else:
                g_loss = mse
            if content is not None:
                g_loss = g_loss + c.content_weight * content
        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars))
        logs = {"g_loss": g_loss, "mse": mse}
        if content is not None:
            logs["content"] = content
        if self.adversarial:
            d_vars = self.discriminator.trainable_variables
            self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars))
            logs.update(adv=adv, d_loss=d_loss, d_real=ops.mean(d_real), d_fake=ops.mean(d_fake))
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in logs}

    def test_step(self, data):
        lr, hr, _ = keras.utils.unpack_x_y_sample_weight(data)
        sr = self.generator(lr, training=False)
        self.trackers["psnr"].update_state(psnr(sr, hr))
        self.trackers["mse"].update_state(ops.mean(ops.square(sr - hr)))
        return {"psnr": self.trackers["psnr"].result(), "mse": self.trackers["mse"].result()}
