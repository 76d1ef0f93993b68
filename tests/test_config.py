import json

import pytest

from dcgan_sr.config import Config
from dcgan_sr.errors import UserError


def test_defaults_are_the_seed_recipe():
    c = Config()
    assert (c.mse_weight, c.adv_weight, c.label_noise) == (0.8, 0.2, 0.1)
    assert (c.g_learning_rate, c.g_beta_1, c.d_learning_rate, c.d_clipvalue) == (2e-4, 0.5, 1e-4, 1.0)
    assert c.batch_size == 128 and c.gen_res_filters == (256, 256, 128, 128, 64, 64)


def test_round_trip_through_json(tmp_path):
    c = Config(gen_res_filters=(8, 8), steps=10, pretrain_steps=4)
    c.save(tmp_path / "config.json")
    assert Config.load(tmp_path / "config.json") == c


def test_run_info_keys_written_by_train_are_ignored(tmp_path):
    values = Config().to_dict() | {"data": {"train_images": 3}, "versions": {}, "device": "CPU"}
    (tmp_path / "config.json").write_text(json.dumps(values))
    assert Config.load(tmp_path / "config.json") == Config()


@pytest.mark.parametrize("values, message", [
    ({"stepz": 3}, "unknown key"),
    ({"steps": "10"}, "steps must be an integer"),
    ({"steps": 1.5}, "steps must be an integer"),
    ({"batch_size": 0}, "batch_size must be > 0"),
    ({"gen_res_filters": []}, "gen_res_filters must be a non-empty list"),
    ({"gen_res_filters": [8, "x"]}, "a list of integers"),
    ({"steps": 5, "pretrain_steps": 6}, "pretrain_steps must be between"),
    ({"label_noise": 0.7}, "label_noise"),
])
def test_invalid_values_are_refused_by_name(values, message):
    with pytest.raises(UserError, match=message):
        Config.from_dict(values)


def test_unreadable_config_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(UserError, match="cannot read config"):
        Config.load(path)


@pytest.mark.parametrize("values", [{"gen_head_kernel": 4}, {"gen_out_kernel": 6},
                                    {"gen_out_kernel": 4, "upsample": "pixelshuffle"}])
def test_an_even_kernel_is_refused(values):
    """An even kernel's "same" padding is lopsided: tiles differed from the whole image and
    nearest_conv's output conv raised a traceback."""
    with pytest.raises(UserError, match="must be odd"):
        Config(**values)


@pytest.mark.parametrize("values", [{"batch_size": 10 ** 12}, {"checkpoint_every": 10 ** 9}])
def test_sizes_that_cannot_be_held_are_refused_before_anything_is_allocated(values):
    """HRBatches ordered steps x batch images before the batch was checked: 6+ GB and growing."""
    with pytest.raises(UserError, match="batch_size x checkpoint_every must be at most"):
        Config(**values)
