import dataclasses

import keras
import numpy as np
import pytest

from dcgan_sr.config import Config
from dcgan_sr.errors import UserError
from dcgan_sr.presets import PRESETS, load_generator, preset_files


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_shipped_presets_load_and_upscale(name):
    weights, config = preset_files(name)
    assert weights.is_file() and config.is_file()
    generator = load_generator(name)
    out = np.asarray(generator(np.zeros((1, 32, 32, 3), np.float32)))
    assert out.shape == (1, 128, 128, 3) and np.all(np.isfinite(out))


def test_a_keras_file_carrying_code_is_refused(tmp_path):
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    path = tmp_path / "evil.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(UserError, match="refused to load"):
        load_generator(path)


def test_weights_without_their_config_are_explained(tmp_path, tiny_config):
    from dcgan_sr.models import build_generator
    path = tmp_path / "g.weights.h5"
    build_generator(tiny_config).save_weights(path)
    with pytest.raises(UserError, match="no config.json beside"):
        load_generator(path)
    Config().save(tmp_path / "config.json")  # the wrong widths
    with pytest.raises(UserError, match="do not fit"):
        load_generator(path)


def test_saved_weights_load_back_exactly(tmp_path, tiny_config):
    from dcgan_sr.models import build_generator
    generator = build_generator(tiny_config)
    rng = np.random.default_rng(0)
    generator.set_weights([w + rng.normal(0, 0.1, w.shape).astype(w.dtype) for w in generator.get_weights()])
    generator.save_weights(tmp_path / "g.weights.h5")
    tiny_config.save(tmp_path / "config.json")
    loaded = load_generator(tmp_path / "g.weights.h5")
    x = rng.uniform(-1, 1, (1, 8, 8, 3)).astype(np.float32)
    assert np.array_equal(np.asarray(generator(x)), np.asarray(loaded(x)))


def test_a_keras_file_with_an_unknown_custom_layer_is_refused(tmp_path):
    @keras.saving.register_keras_serializable(package="elsewhere")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = keras.Input((None, None, 3))
    path = tmp_path / "foreign.keras"
    keras.Model(inputs, Doubler()(inputs)).save(path)
    keras.saving.get_custom_objects().pop("elsewhere>Doubler")  # as on a machine without that code
    with pytest.raises(UserError, match="refused to load"):
        load_generator(path)


def test_a_config_that_does_not_match_the_weights_is_refused(tmp_path, tiny_config):
    """Same shapes, another architecture: gen_bicubic_skip flipped would load and give a
    grey image; the generator settings stamped in the weights catch it."""
    from dcgan_sr.models import build_generator
    from dcgan_sr.presets import stamp_architecture
    path = tmp_path / "g.weights.h5"
    build_generator(tiny_config).save_weights(path)
    stamp_architecture(path, tiny_config)
    flipped = dataclasses.replace(tiny_config, gen_bicubic_skip=not tiny_config.gen_bicubic_skip)
    flipped.save(tmp_path / "config.json")
    with pytest.raises(UserError, match="does not match these weights "
                                        ".gen_bicubic_skip: weights False, config True"):
        load_generator(path)
    tiny_config.save(tmp_path / "config.json")
    assert load_generator(path).output_shape == (None, None, None, 3)


@pytest.mark.parametrize("make", [
    lambda i: keras.layers.Conv2D(3, 3, padding="same")(i),                      # same size
    lambda i: keras.layers.Conv2D(3, 3, padding="same")(keras.layers.UpSampling2D(2)(i)),  # 2x
    lambda i: keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(i)),   # a discriminator
])
def test_a_keras_file_that_is_not_a_4x_generator_is_refused(tmp_path, make):
    inputs = keras.Input((None, None, 3))
    path = tmp_path / "other.keras"
    keras.Model(inputs, make(inputs)).save(path)
    with pytest.raises(UserError, match="not a 4x super-resolution generator"):
        load_generator(path)


def test_the_shipped_presets_carry_their_architecture_stamp():
    import h5py
    from dcgan_sr.presets import ARCHITECTURE_ATTRIBUTE
    for name in PRESETS:
        with h5py.File(preset_files(name)[0], "r") as handle:
            assert ARCHITECTURE_ATTRIBUTE in handle.attrs, name


def test_a_model_that_resizes_to_a_fixed_size_is_refused(tmp_path):
    """Resizing(32, 32) + Conv2D passed the 8x8 -> 32x32 probe, then upscale failed on any
    other size ("could not broadcast")."""
    inputs = keras.Input((None, None, 3))
    fixed = keras.layers.Conv2D(3, 3, padding="same")(keras.layers.Resizing(32, 32)(inputs))
    keras.Model(inputs, fixed).save(tmp_path / "fixed.keras")
    with pytest.raises(UserError, match=r"a 12x20 RGB input gave \(1, 32, 32, 3\)"):
        load_generator(tmp_path / "fixed.keras")


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_weights_name_is_named_as_such(name):
    with pytest.raises(UserError, match="is empty; pass a preset name"):
        load_generator(name)
