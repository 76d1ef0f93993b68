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
"""

from __future__ import annotations

import keras
from keras import ops

def discriminator_adversarial(gan_loss: str, d_real, d_fake, noisy):
    """D's loss from its outputs on real and super-resolved faces. `noisy(like, target)`
    gives the seed's noisy targets."""
    if gan_loss == "bce":
        return _bce(noisy(d_real, 1.0), d_real) + _bce(noisy(d_fake, 0.0), d_fake)
    if gan_loss == "ragan":
        return _relativistic(d_real, d_fake, real_target=1.0)
    if gan_loss == "hinge":
        return ops.mean(ops.relu(1.0 - d_real)) + ops.mean(ops.relu(1.0 + d_fake))
    raise ValueError(f"unknown gan_loss {gan_loss!r}")


def generator_adversarial(gan_loss: str, d_real, d_fake, noisy):
    """G's adversarial loss from D's outputs on real and super-resolved faces."""
    if gan_loss == "bce":
        return _bce(noisy(d_fake, 1.0), d_fake)
    if gan_loss == "ragan":
        return _relativistic(d_real, d_fake, real_target=0.0)
    if gan_loss == "hinge":
        return -ops.mean(d_fake)
    raise ValueError(f"unknown gan_loss {gan_loss!r}")


def _bce(target, probability):
    return ops.mean(keras.losses.binary_crossentropy(target, probability))


def _relativistic(d_real, d_fake, real_target: float):
    """RaGAN: real logits judged against the mean fake one, and fakes against the mean real."""
    def bce_logits(target, logits):
        return ops.mean(keras.losses.binary_crossentropy(
            ops.full_like(logits, target), logits, from_logits=True))
    return (bce_logits(real_target, d_real - ops.mean(d_fake))
            + bce_logits(1.0 - real_target, d_fake - ops.mean(d_real)))


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
    pixels = (inputs + 1.0) * 127.5
    features = keras.Model(vgg.input, conv5_4.output)(keras.applications.vgg19.preprocess_input(pixels))
    return keras.Model(inputs, features, name="vgg19_conv5_4")


def content_loss(kind: str, sr, hr, feature_model: keras.Model | None):
    if kind == "l1":
        return ops.mean(ops.abs(sr - hr))
    if kind in ("dfeat", "vgg"):
        fake = feature_model(sr, training=False)
        real = feature_model(hr, training=False)
        fake, real = (fake, real) if isinstance(fake, list) else ([fake], [real])
        return sum(ops.mean(ops.square(f - ops.stop_gradient(r))) for f, r in zip(fake, real)) / len(fake)
    raise ValueError(f"unknown content_loss {kind!r}")
