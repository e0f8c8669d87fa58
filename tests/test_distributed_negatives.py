"""ViC-MAE's negatives cover the global batch under `keras.distribution`.

With the batch split over two (virtual CPU) devices by `DataParallel`, the
contrastive loss equals the single-device one: each example is contrasted
with all 7 others, not only with the 3 on its replica (which would give a
smaller loss: fewer negatives).
"""

import json
import os
import subprocess
import sys

import keras
import pytest

import keras_layerlock as kl


def run(mode):
    worker = os.path.join(os.path.dirname(__file__), "distributed_negatives_worker.py")
    package_root = os.path.dirname(os.path.dirname(kl.__file__))
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3",
               XLA_FLAGS="--xla_force_host_platform_device_count=2",
               PYTHONPATH=os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, worker, mode], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="keras.distribution's DataParallel runs on JAX; one run covers it")
def test_contrastive_negatives_span_the_global_batch_under_data_parallel():
    single, parallel = run("single"), run("data_parallel")
    assert parallel["devices"] == 2
    assert parallel["contrastive_loss"] == pytest.approx(single["contrastive_loss"], rel=1e-5)
    assert parallel["pixel_loss"] == pytest.approx(single["pixel_loss"], rel=1e-5)
