import json
import os
import subprocess
import sys

import keras
import pytest

import keras_layerlock as kl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("random_init", "mae", "layerlock_mae", "layerlock_vjepa", "supervised")
PRETRAINED = MODELS[1:4]


@pytest.mark.slow
def test_main_job_smoke_run_writes_table_plots_and_loadable_presets(tmp_path):
    output = str(tmp_path / "main_job")
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    run = subprocess.run(
        [sys.executable, os.path.join(ROOT, "recipes", "main_job.py"), "--toy",
         "--output_dir", output, "--cache_dir", str(tmp_path / "cache"), "--verbose", "0"],
        env=env, capture_output=True, text=True, cwd=ROOT, timeout=1800,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for name in ("results.md", "results.json", "training_curves.png", "readouts.png",
                 "compute_and_memory.png"):
        assert os.path.getsize(os.path.join(output, name)) > 0, name
    with open(os.path.join(output, "results.md")) as f:
        table = f.read()
    assert "| model | motion acc | appearance acc | depth AbsRel |" in table
    for label in ("random_init (floor)", "mae", "layerlock_mae", "layerlock_vjepa",
                  "supervised (ceiling)"):
        assert f"| {label} |" in table
    with open(os.path.join(output, "results.json")) as f:
        results = json.load(f)
    assert results["backend"] == keras.backend.backend()
    assert [row["name"] for row in results["rows"]] == list(MODELS)
    for row in results["rows"]:
        for task in ("motion", "appearance", "depth"):
            interval = row[task]
            assert interval["low"] <= interval["value"] <= interval["high"], (row["name"], task)
            if task != "depth":
                assert 0.0 <= interval["low"] and interval["high"] <= 1.0
        assert row["depth"]["value"] > 0.0
        if row["name"] in PRETRAINED:
            assert isinstance(row["clears_floor"], list)
            assert row["train_flops"] > 0
        if row["name"] != "supervised":
            assert len(results["sweeps"][row["name"]]["depth"]) == 1
    pretraining = results["pretraining"]
    assert pretraining["layerlock_mae"]["events"] and pretraining["layerlock_vjepa"]["events"]
    assert not pretraining["mae"]["events"]
    for name in PRETRAINED:
        assert pretraining[name]["train_flops"] > 0 and pretraining[name]["peak_rss_mb"] > 0
        assert pretraining[name]["fit_memory_mb"] >= 0
    for name in MODELS[:4]:
        preset = os.path.join(output, "presets", name)
        for file in ("config.json", "model.weights.h5", "metadata.json"):
            assert os.path.exists(os.path.join(preset, file)), (name, file)
        backbone = kl.VideoViTBackbone.from_preset(preset)
        assert backbone.hidden_dim == 160
    restored = keras.saving.load_model(
        os.path.join(output, "presets", "layerlock_vjepa", "pretraining_model.keras")
    )
    assert isinstance(restored, kl.VJEPA) and restored.num_frozen_layers > 0
