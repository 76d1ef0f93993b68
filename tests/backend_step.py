"""One adversarial GAN step from saved weights, under whichever Keras backend runs it.

`python tests/backend_step.py CONFIG WEIGHTS HR.npy G_OUT` prints the step's losses as JSON
(tests/test_backends.py runs it under JAX, and calls `one_step` under TensorFlow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from dcgan_sr.config import Config
from dcgan_sr.train import build_gan


def one_step(config_file, weights, hr, generator_out) -> dict:
    """Load the GAN's weights, one adversarial step on `hr`, save G: the step's losses."""
    gan = build_gan(Config.load(config_file))
    gan.load_weights(weights)
    gan.set_adversarial(True)
    logs = gan.train_on_batch(np.load(hr), return_dict=True)
    gan.generator.save_weights(generator_out)
    return {k: float(v) for k, v in logs.items()}


def one_step_under_jax(config_file, weights, hr, generator_out) -> dict:
    """`one_step` in a fresh process under Keras' JAX backend: the step's losses."""
    done = subprocess.run([sys.executable, str(Path(__file__)), *map(str, (config_file, weights, hr,
                                                                          generator_out))],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(one_step(*sys.argv[1:5])))
