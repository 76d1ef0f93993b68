"""benchmarks/scaling_study.py: its arms, its step budget, and its kept result."""

import importlib.util
import json
from pathlib import Path

import pytest

from dcgan_sr.config import Config
from dcgan_sr.models import build_generator

ROOT = Path(__file__).resolve().parents[1]
KEPT = ROOT / "benchmarks" / "scaling_study_intel_xeon_2026-12-03"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("scaling_study", ROOT / "benchmarks" / "scaling_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_arm_is_a_valid_config_of_the_network_it_names(study):
    sizes = {}
    for name in study.ARMS:
        config = Config.from_dict(study.arm_config(name))
        assert config.degradation == "realistic" and config.pretrain_learning_rate == 5e-4
        sizes[name] = build_generator(config).count_params()
    assert sizes["presets_f32"] == sizes["presets_bf16"]
    assert sizes["k3_f32"] < sizes["presets_f32"] < sizes["deep_k3_f32"] < sizes["wide_k3_f32"]


def test_the_budget_buys_steps_to_the_nearest_checkpoint(study):
    assert study.steps_for(12, 0.788) == 900  # 913.7 steps
    assert study.steps_for(12, 1.544) == 450  # 466.3
    assert study.steps_for(0.1, 5.0) == study.BASE["checkpoint_every"]  # at least one checkpoint


def test_the_kept_table_is_what_the_script_writes_from_the_kept_json(study):
    result = json.loads(KEPT.with_suffix(".json").read_text())
    assert study.markdown(result) + "\n" == KEPT.with_suffix(".md").read_text()
    assert result["steps"] == {a: study.steps_for(result["budget_minutes"], result["seconds_per_step"][a])
                               for a in result["arms"]}
