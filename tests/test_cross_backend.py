"""The same saved weights give the same outputs under every backend."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from testing_utils import to_numpy

import keras_layerlock as kl

BACKENDS = ("jax", "torch", "tensorflow")
TOLERANCE = 1e-4

BACKBONE_CASES = {
    "rope3d_post_norm": dict(position_encoding="rope3d"),
    "rope3d_qk": dict(position_encoding="rope3d", rope_placement="qk"),
    "rope3d_vjepa2": dict(position_encoding="rope3d_vjepa2"),
    "learned": dict(position_encoding="learned", use_final_norm=True),
    "sincos3d_image": dict(position_encoding="sincos3d", image_input=True),
    "rope3d_class_token": dict(position_encoding="rope3d", use_class_token=True),
}

# Models whose call draws masks and views: a deterministic method instead.
METHOD_CASES = {"vic_mae_global_embedding": "global_embedding"}


def build_cases():
    """`{name: (layer, positional inputs)}` for every case."""
    rng = np.random.default_rng(7)
    cases = {}
    for name, case in BACKBONE_CASES.items():
        case = dict(case)
        image_input = case.pop("image_input", False)
        backbone = kl.VideoViTBackbone(
            hidden_dim=64, num_layers=3, num_heads=4, intermediate_dim=128,
            patch_size=(2, 8, 8), num_frames=4, image_size=(16, 24), **case,
        )
        shape = (2, 16, 24, 3) if image_input else (2, 4, 16, 24, 3)
        cases[name] = (backbone, [rng.random(shape, dtype="float32")])
    features = rng.random((2, 12, 64), dtype="float32")
    cases["cross_attention_readout"] = (kl.CrossAttentionReadout(4, 10, 32, 4), [features])
    cases["readout_depth_estimator"] = (
        kl.ReadoutDepthEstimator((4, 16, 16), feature_dim=64, readout_hidden_dim=32,
                                 readout_num_heads=4),
        [features],
    )
    context_positions = rng.integers(0, 4, (2, 5, 3)).astype("int32")
    query_positions = rng.integers(0, 4, (2, 3, 3)).astype("int32")
    for name, rope in (("predictor_rope", kl.RotaryEmbedding3D()), ("predictor_sincos", None)):
        predictor = kl.MaskedTokenPredictor(32, 2, 2, 64, output_dim=64, rotary_embedding=rope)
        cases[name] = (predictor, [features[:, :5], context_positions, query_positions])
    vic_mae = kl.ViCMAE(kl.VideoViTBackbone(
        hidden_dim=64, num_layers=3, num_heads=4, intermediate_dim=128, patch_size=(2, 8, 8),
        num_frames=4, image_size=16), decoder_num_layers=1, seed=0)
    cases["vic_mae_global_embedding"] = (vic_mae, [rng.random((2, 16, 16, 3), dtype="float32")])
    return cases


@pytest.mark.cross_backend
def test_same_weights_same_outputs_on_all_backends(tmp_path):
    this_backend = keras.backend.backend()
    expected = {}
    cases = build_cases()
    for name, (layer, inputs) in cases.items():
        method = METHOD_CASES.get(name)
        outputs = getattr(layer, method)(*inputs) if method else layer(*inputs)
        case_dir = tmp_path / name
        case_dir.mkdir()
        if method:
            (case_dir / "method.txt").write_text(method)
        with open(case_dir / "object.json", "w") as f:
            json.dump(keras.saving.serialize_keras_object(layer), f)
        np.savez(case_dir / "weights.npz", *[np.asarray(w) for w in layer.get_weights()])
        np.savez(case_dir / "inputs.npz", *inputs)
        expected[name] = [to_numpy(o) for o in (outputs if isinstance(outputs, list) else [outputs])]

    worker = os.path.join(os.path.dirname(__file__), "cross_backend_worker.py")
    others = [b for b in BACKENDS if b != this_backend]
    worst = {}
    for backend in others:
        package_root = os.path.dirname(os.path.dirname(kl.__file__))
        python_path = os.pathsep.join(
            [package_root] + [p for p in [os.environ.get("PYTHONPATH")] if p]
        )
        env = dict(
            os.environ,
            KERAS_BACKEND=backend,
            TF_CPP_MIN_LOG_LEVEL="3",
            PYTHONPATH=python_path,
        )
        result = subprocess.run(
            [sys.executable, worker] + [str(tmp_path / n) for n in cases],
            env=env, capture_output=True, text=True, timeout=600,
        )
        assert result.returncode == 0, (
            f"{backend} worker failed:\n{result.stdout}\n{result.stderr[-4000:]}"
        )
        for name in cases:
            with np.load(tmp_path / name / f"outputs_{backend}.npz") as data:
                outputs = [data[f"arr_{i}"] for i in range(len(data.files))]
            assert len(outputs) == len(expected[name])
            diff = max(
                float(np.abs(o - e).max()) for o, e in zip(outputs, expected[name])
            )
            worst[(backend, name)] = diff
    print("max abs difference vs", this_backend, worst)
    assert max(worst.values()) <= TOLERANCE, worst
