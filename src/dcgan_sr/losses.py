"""Adversarial and content losses beyond the seed's, chosen by the config.

Adversarial (`gan_loss`), from D's outputs on real (r) and super-resolved (f) batches:

* ``bce`` (the seed's): D outputs probabilities; D: BCE(r, 1) + BCE(f, 0); G: BCE(f, 1).
  The targets carry the seed's label noise.
* ``ragan`` (relativistic average GAN, as ESRGAN uses it): D outputs logits C;
  D: BCE(C(r) - E[C(f)], 1) + BCE(C(f) - E[C(r)], 0); G: the same with the targets swapped.
* ``hinge``: D outputs logits; D: E[relu(1 - C(r))] + E[relu(1 + C(f))]; G: -E[C(f)].

Content (`content_loss`), added to the seed's MSE with weight `content_weight`:

* ``l1``: mean absolute pixel error;
* ``dfeat``: feature matching on the discriminator's own stage outputs (no pretrained net);
* ``vgg``: VGG19 conv5_4 features before its ReLU, as SRGAN; downloads ImageNet weights.
* ``identity``: dlib's 128-D face descriptor of a fixed chip of the face
  (`dcgan_sr.face_descriptor`, the [faces] extra; nothing downloaded): the mean squared
  difference of SR's descriptor from HR's, i.e. the squared identity distance / 128. It is
  the network `evaluate`'s identity distance and rank-1 use: judge such a model also by the
  landmark distance (another dlib model) and by eye.

Adding a loss is an entry in `ADVERSARIAL` or `CONTENT` and its name in `config.CHOICES`
(tests/test_losses.py checks that they agree); the step logs it as `adv` or `content`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
from keras import ops

from dcgan_sr.pixels import to_pixels

@dataclass(frozen=True)
class Adversarial:
    """An adversarial loss: D's and G's, from D's outputs on real (r) and super-resolved (f)
    faces and `noisy(like, target)`, the seed's noisy targets; and what D outputs."""
    discriminator: Callable
    generator: Callable
    logits: bool  # D outputs logits (else probabilities, through a sigmoid)
    generator_reads_real: bool = False  # G's loss needs D's outputs on real faces too


def _bce(target, probability):
    return ops.mean(keras.losses.binary_crossentropy(target, probability))


def _relativistic(d_real, d_fake, real_target: float):
    """RaGAN: real logits judged against the mean fake one, and fakes against the mean real."""
    def bce_logits(target, logits):
        return ops.mean(keras.losses.binary_crossentropy(
            ops.full_like(logits, target), logits, from_logits=True))
    return (bce_logits(real_target, d_real - ops.mean(d_fake))
            + bce_logits(1.0 - real_target, d_fake - ops.mean(d_real)))


# The adversarial losses by name (`gan_loss`); config.CHOICES lists the same names (tested).
ADVERSARIAL = {
    "bce": Adversarial(
        discriminator=lambda r, f, noisy: _bce(noisy(r, 1.0), r) + _bce(noisy(f, 0.0), f),
        generator=lambda r, f, noisy: _bce(noisy(f, 1.0), f), logits=False),
    "ragan": Adversarial(
        discriminator=lambda r, f, noisy: _relativistic(r, f, real_target=1.0),
        generator=lambda r, f, noisy: _relativistic(r, f, real_target=0.0), logits=True,
        generator_reads_real=True),
    "hinge": Adversarial(
        discriminator=lambda r, f, noisy: ops.mean(ops.relu(1.0 - r)) + ops.mean(ops.relu(1.0 + f)),
        generator=lambda r, f, noisy: -ops.mean(f), logits=True),
}


def at_chance(gan_loss: str) -> tuple[float, float]:
    """D's and G's adversarial losses when D cannot tell real from super-resolved: it gives
    both the same output (probability 0.5, or the same logit). BCE: 2 ln 2 and ln 2; RaGAN:
    2 ln 2 and 2 ln 2; hinge: 2 and 0. Label noise does not move them."""
    loss = ADVERSARIAL[gan_loss]
    same = ops.zeros((1, 1)) if loss.logits else ops.full((1, 1), 0.5)
    exact = lambda like, target: ops.full_like(like, target)  # noise moves nothing at 0.5
    return (float(loss.discriminator(same, same, exact)), float(loss.generator(same, same, exact)))


def discriminator_features(discriminator: keras.Model) -> keras.Model:
    """D's input -> the activations after each of its strided stages."""
    names = [layer.name for layer in discriminator.layers if layer.name.endswith("_features")]
    return keras.Model(discriminator.input, [discriminator.get_layer(n).output for n in names],
                       name="discriminator_features")


def vgg_features(weights: str | None = "imagenet") -> keras.Model:
    """[-1, 1] RGB -> VGG19 block5_conv4 output before its ReLU (SRGAN's phi_5,4)."""
    vgg = keras.applications.VGG19(include_top=False, weights=weights, input_shape=(None, None, 3))
    vgg.trainable = False
    conv5_4 = vgg.get_layer("block5_conv4")
    conv5_4.activation = keras.activations.linear  # features before activation
    inputs = keras.Input((None, None, 3))
    pixels = to_pixels(inputs)
    features = keras.Model(vgg.input, conv5_4.output)(keras.applications.vgg19.preprocess_input(pixels))
    return keras.Model(inputs, features, name="vgg19_conv5_4")


def _feature_matching(sr, hr, feature_model):
    fake = feature_model(sr, training=False)
    real = feature_model(hr, training=False)
    fake, real = (fake, real) if isinstance(fake, list) else ([fake], [real])
    # In float32 whatever D computes in (mixed precision), like the MSE it is added to.
    return sum(ops.mean(ops.square(ops.cast(f, "float32") - ops.stop_gradient(ops.cast(r, "float32"))))
               for f, r in zip(fake, real)) / len(fake)


# The content losses by name (`content_loss`, besides "none"): (sr, hr, feature model) -> loss.
CONTENT = {
    "l1": lambda sr, hr, features: ops.mean(ops.abs(sr - hr)),
    "dfeat": _feature_matching,
    "vgg": _feature_matching,
    "identity": _feature_matching,
}
