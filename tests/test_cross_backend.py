"""The same saved weights give the same features under every backend."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_layerlock as kl
from testing_utils import to_numpy

BACKENDS = ("jax", "torch", "tensorflow")
TOLERANCE = 1e-4

CASES = {
    "rope3d_post_norm": dict(position_encoding="rope3d"),
    "rope3d_qk": dict(position_encoding="rope3d", rope_placement="qk"),
    "rope3d_vjepa2": dict(position_encoding="rope3d_vjepa2"),
    "learned": dict(position_encoding="learned", use_final_norm=True),
    "sincos3d_image": dict(position_encoding="sincos3d", image_input=True),
}


@pytest.mark.cross_backend
def test_same_weights_same_outputs_on_all_backends(tmp_path):
    this_backend = keras.backend.backend()
    expected = {}
    for name, case in CASES.items():
        case = dict(case)
        image_input = case.pop("image_input", False)
        backbone = kl.VideoViTBackbone(
            hidden_dim=64, num_layers=3, num_heads=4, intermediate_dim=128,
            patch_size=(2, 8, 8), num_frames=4, image_size=(16, 24), **case,
        )
        shape = (2, 16, 24, 3) if image_input else (2, 4, 16, 24, 3)
        inputs = np.random.default_rng(7).random(shape, dtype="float32")
        case_dir = tmp_path / name
        case_dir.mkdir()
        with open(case_dir / "config.json", "w") as f:
            json.dump(backbone.get_config(), f)
        backbone.save_weights(str(case_dir / "model.weights.h5"))
        np.save(case_dir / "inputs.npy", inputs)
        expected[name] = to_numpy(backbone(inputs))

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
            [sys.executable, worker] + [str(tmp_path / n) for n in CASES],
            env=env, capture_output=True, text=True, timeout=600,
        )
        assert result.returncode == 0, (
            f"{backend} worker failed:\n{result.stdout}\n{result.stderr[-4000:]}"
        )
        for name in CASES:
            with np.load(tmp_path / name / f"outputs_{backend}.npz") as data:
                outputs = [data[f"arr_{i}"] for i in range(len(data.files))]
            assert len(outputs) == len(expected[name])
            diff = max(
                float(np.abs(o - e).max()) for o, e in zip(outputs, expected[name])
            )
            worst[(backend, name)] = diff
    print("max abs difference vs", this_backend, worst)
    assert max(worst.values()) <= TOLERANCE, worst
