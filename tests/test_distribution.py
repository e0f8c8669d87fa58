"""Scaling out on `keras.distribution` (JAX, 8 simulated CPU devices).

Data-parallel and model-parallel training of a tiny LayerLockMAE, VJEPA and
ViCMAE through a freezing event match one device; the variables carry the
layouts asked for; frozen weights stay bit-identical; masks drawn per
example differ across replicas and equal the single-device draw; weights
saved from a sharded model load on one device and the other way round.
Each run is a subprocess (`distribution_worker.py`): the device count is
fixed when JAX starts.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_layerlock as kl

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="keras.distribution's DataParallel and ModelParallel run on JAX; one run covers it")


def run(tmp_path, kind, mode, *extra):
    worker = os.path.join(os.path.dirname(__file__), "distribution_worker.py")
    package_root = os.path.dirname(os.path.dirname(kl.__file__))
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3",
               XLA_FLAGS="--xla_force_host_platform_device_count=8",
               PYTHONPATH=os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]))
    out = str(tmp_path / f"{kind}_{mode}{'_load' if extra else ''}")
    result = subprocess.run([sys.executable, worker, kind, mode, out, *extra], env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = {}
    if os.path.exists(out + ".json"):
        with open(out + ".json") as f:
            summary = json.load(f)
    return summary, dict(np.load(out + ".npz")), out


@pytest.fixture(scope="module")
def mae_runs(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("distribution")
    return {mode: run(tmp_path, "mae", mode)
            for mode in ("single", "data_parallel", "model_parallel")}


def assert_same_training(single, other, freezes=True):
    (summary, weights, _), (reference, reference_weights, _) = other, single
    assert summary["devices"] == 8
    if freezes:
        assert summary["events"] == reference["events"] == [{"step": 3, "num_frozen_layers": 1}]
        assert summary["frozen_identical"] and reference["frozen_identical"]
    assert summary["num_trainable"] == reference["num_trainable"]
    np.testing.assert_allclose(summary["losses"], reference["losses"], rtol=1e-5)
    assert weights.keys() == reference_weights.keys()
    for path in reference_weights:
        if path != "features":
            np.testing.assert_allclose(weights[path], reference_weights[path], atol=2e-5,
                                       err_msg=path)
    # Derived from the weights: the last LayerNorm amplifies their 2e-5.
    np.testing.assert_allclose(weights["features"], reference_weights["features"], rtol=1e-3,
                               atol=1e-3)


@pytest.mark.parametrize("mode", ["data_parallel", "model_parallel"])
def test_layerlock_mae_trains_distributed_as_on_one_device(mae_runs, mode):
    assert_same_training(mae_runs["single"], mae_runs[mode])


def test_model_parallel_variables_carry_the_layout_map(mae_runs):
    layouts = mae_runs["model_parallel"][0]["layouts"]
    assert layouts["transformer_layer_1/qkv/kernel"] == "P('batch', 'model')"
    assert layouts["transformer_layer_1/mlp_output/kernel"] == "P('model', 'batch')"
    assert layouts["patch_embedding/kernel"] == "P(None, None, None, None, 'model')"
    assert layouts["transformer_layer_1/attention_norm/gamma"] == "P(None,)"


def test_masks_differ_across_replicas_and_equal_the_single_device_draw(mae_runs):
    masks = mae_runs["data_parallel"][0]["masks"]  # 8 identical clips, one per replica
    assert len({tuple(m) for m in masks}) == len(masks) == 8
    assert masks == mae_runs["single"][0]["masks"]


def test_sharded_checkpoints_load_on_one_device_and_the_other_way(mae_runs, tmp_path):
    sharded_file = mae_runs["model_parallel"][2] + ".weights.h5"
    single_file = mae_runs["single"][2] + ".weights.h5"
    _, on_one_device, _ = run(tmp_path, "mae", "single", "--load", sharded_file)
    _, on_the_mesh, _ = run(tmp_path, "mae", "model_parallel", "--load", single_file)
    np.testing.assert_allclose(on_one_device["features"],
                               mae_runs["model_parallel"][1]["features"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(on_the_mesh["features"], mae_runs["single"][1]["features"], rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("kind", ["vjepa", "vic_mae"])
def test_vjepa_and_vic_mae_train_model_parallel_as_on_one_device(tmp_path, kind):
    """VJEPA with its EMA teacher; ViCMAE with its contrastive loss over the
    global batch (its projection heads replicated)."""
    assert_same_training(run(tmp_path, kind, "single"), run(tmp_path, kind, "model_parallel"))


def test_msbreg_trains_data_parallel_as_on_one_device(tmp_path):
    """MSBReg on a ResNet (BYOL with K views): its BatchNorm statistics, the
    centroid of the other views and the singular values of the predictions
    cover the global batch, so eight replicas train as one device on eight
    (the moving statistics are among the weights compared). Three steps, at
    the ViTs' tolerances: later, a max-pool or ReLU decision that round-off
    flips sends any two ways of summing apart (2e-4 in the loss by step 5;
    with the learning rate 0 every loss agrees to 5e-7). Per-replica
    statistics would miss at the first step: BatchNorm over one example
    outputs its beta."""
    assert_same_training(run(tmp_path, "msbreg", "single"),
                         run(tmp_path, "msbreg", "data_parallel"), freezes=False)
