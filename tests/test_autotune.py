"""--xla auto: the choice between tf.function and XLA, with stubbed timings (no speed is
measured here)."""

import json

import pytest

from dcgan_sr import autotune
from dcgan_sr.autotune import Timing

# XLA steps faster but compiles slower, as on an AMD EPYC.
MEASURED = {"function": {"warm_up": Timing(10.0, 1.0), "adversarial": Timing(12.0, 3.0)},
            "xla": {"warm_up": Timing(40.0, 0.6), "adversarial": Timing(60.0, 2.0)}}


def test_a_long_run_takes_the_faster_step_and_a_short_one_the_faster_compile():
    assert autotune.fastest(MEASURED, {"warm_up": 2500, "adversarial": 1000}) == "xla"
    assert autotune.fastest(MEASURED, {"warm_up": 20, "adversarial": 20}) == "function"
    # only the phases left count: resumed in the adversarial phase, where XLA's 48 s more
    # to compile are repaid after 48 steps
    assert autotune.fastest(MEASURED, {"warm_up": 0, "adversarial": 60}) == "xla"
    assert autotune.fastest(MEASURED, {"warm_up": 0, "adversarial": 30}) == "function"


@pytest.mark.parametrize("left", [{"warm_up": 0, "adversarial": 10}, {"warm_up": 500, "adversarial": 3000},
                                  {"warm_up": 2500, "adversarial": 1000}, {"warm_up": 100, "adversarial": 0}])
def test_the_choice_is_never_slower_than_the_fastest_path(left):
    chosen = autotune.total_seconds(MEASURED[autotune.fastest(MEASURED, left)], left)
    assert chosen == min(autotune.total_seconds(t, left) for t in MEASURED.values())


def test_steps_left_per_phase(tiny_config):
    config = tiny_config.__class__(**{**tiny_config.to_dict(), "steps": 3500, "pretrain_steps": 2500})
    assert autotune.steps_left(config, 0) == {"warm_up": 2500, "adversarial": 1000}
    assert autotune.steps_left(config, 3000) == {"warm_up": 0, "adversarial": 500}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "dcgan_sr" / "xla_auto.json"


def long_config(tiny_config):
    return tiny_config.__class__(**{**tiny_config.to_dict(), "steps": 3500, "pretrain_steps": 2500})


def test_a_long_run_is_measured_once_then_decided_from_the_cache(cache, tiny_config, monkeypatch, caplog):
    config = long_config(tiny_config)
    calls = []

    def stub_measure(build, config, phases):
        calls.append(phases)
        return {p: {phase: MEASURED[p][phase] for phase in phases} for p in MEASURED}

    monkeypatch.setattr(autotune, "measure", stub_measure)
    with caplog.at_level("INFO", logger="dcgan_sr"):
        assert autotune.choose_xla(config, 0, build=None) is True
    assert calls == [["warm_up", "adversarial"]]
    assert "XLA for the 3500 steps left (timed now" in caplog.text
    entry = json.loads(cache.read_text())[autotune.cache_key(config)]
    assert entry["xla"]["adversarial"] == {"compile_seconds": 60.0, "step_seconds": 2.0}

    caplog.clear()
    with caplog.at_level("INFO", logger="dcgan_sr"):  # the same machine and settings: no timing
        assert autotune.choose_xla(config, 3480, build=None) is False  # 20 steps left
    assert len(calls) == 1
    assert "tf.function for the 20 steps left (timed earlier on this machine" in caplog.text


def test_a_short_run_is_not_measured_and_keeps_tf_function(cache, tiny_config, monkeypatch, caplog):
    monkeypatch.setattr(autotune, "measure", lambda *a: pytest.fail("a short run was measured"))
    with caplog.at_level("INFO", logger="dcgan_sr"):
        assert autotune.choose_xla(tiny_config, 0, build=None) is False
    assert "too short" in caplog.text and not cache.exists()


def test_other_settings_are_another_cache_entry(tiny_config):
    wider = tiny_config.__class__(**{**tiny_config.to_dict(), "gen_up_filters": 16})
    longer = tiny_config.__class__(**{**tiny_config.to_dict(), "steps": 99})
    assert autotune.cache_key(wider) != autotune.cache_key(tiny_config)
    assert autotune.cache_key(longer) == autotune.cache_key(tiny_config)  # steps do not change a step


def test_a_change_to_the_steps_code_is_another_cache_entry(tiny_config, monkeypatch):
    """Timings of the step before a change to its code (a faster layer) are not reused."""
    before = autotune.cache_key(tiny_config)
    monkeypatch.setattr(autotune, "step_code", lambda: "another")
    assert autotune.cache_key(tiny_config) != before


def test_measure_times_each_path_and_phase_on_the_runs_batch(tiny_config):
    """measure() with a fake GAN and clock: the first step is the compile, the next ones steps."""
    import numpy as np

    ticks = iter(range(1000))
    built = []

    class FakeGAN:
        def __init__(self, jit):
            self.jit, self.batches = jit, []
            built.append(self)

        def set_adversarial(self, on):
            self.phase = on

        def train_on_batch(self, hr, return_dict=False):
            self.batches.append(hr.shape)
            return {"g_loss": np.float32(0.0)}

    measured = autotune.measure(FakeGAN, tiny_config, ["warm_up", "adversarial"], clock=lambda: next(ticks))
    assert [g.jit for g in built] == [False, True]
    assert all(shape == (tiny_config.batch_size, 128, 128, 3) for g in built for shape in g.batches)
    # the clock: start 0, compiled 1, after the timed steps 2
    assert measured["function"]["warm_up"] == Timing(1, 1 / autotune.TIMED_STEPS)


def test_a_path_that_does_not_compile_is_ruled_out_and_remembered(cache, tiny_config, monkeypatch, caplog):
    """XLA on a CPU has no kernel for TensorFlow's bicubic resize (the presets' bicubic skip):
    the run goes on with tf.function, says why, and the cache remembers it."""
    import numpy as np

    class FakeGAN:
        def __init__(self, jit):
            self.jit = jit

        def set_adversarial(self, on):
            pass

        def train_on_batch(self, *batch, return_dict=False):
            if self.jit:
                raise ValueError("Detected unsupported operations on XLA_CPU_JIT: ResizeBicubic\nmore")
            return {"g_loss": np.float32(0.0)}

    config = long_config(tiny_config)
    with caplog.at_level("INFO", logger="dcgan_sr"):
        assert autotune.choose_xla(config, 0, build=FakeGAN) is False
    assert "xla cannot run here: Detected unsupported operations on XLA_CPU_JIT: ResizeBicubic" in caplog.text
    entry = json.loads(cache.read_text())[autotune.cache_key(config)]
    assert entry["xla"].startswith("Detected unsupported") and "warm_up" in entry["function"]
    monkeypatch.setattr(autotune, "measure", lambda *a: pytest.fail("measured again"))
    assert autotune.choose_xla(config, 0, build=FakeGAN) is False


def test_a_realistic_run_is_timed_on_lr_hr_pairs(tiny_config):
    import dataclasses

    seen = []

    class FakeGAN:
        def __init__(self, jit):
            pass

        def set_adversarial(self, on):
            pass

        def train_on_batch(self, *batch, return_dict=False):
            seen.append([b.shape for b in batch])
            return {"g_loss": 0.0}

    config = dataclasses.replace(tiny_config, degradation="realistic")
    autotune.measure(FakeGAN, config, ["adversarial"], clock=lambda: 0.0)
    assert seen[0] == [(4, 32, 32, 3), (4, 128, 128, 3)]


def test_a_finished_run_resumed_to_export_times_nothing(cache, tiny_config, monkeypatch):
    """A run killed after its last step but before its summary: the same command again
    must finish it, with timings cached for its settings (it divided by the 0 steps left)."""
    config = long_config(tiny_config)
    monkeypatch.setattr(autotune, "measure", lambda build, config, phases: {
        p: {phase: MEASURED[p][phase] for phase in phases} for p in MEASURED})
    assert autotune.choose_xla(config, 0, build=None) is True  # measured and cached
    assert autotune.choose_xla(config, config.steps, build=None) is False
