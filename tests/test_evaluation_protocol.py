"""The suite's evaluation protocol: baselines, intervals, calibration files."""

import importlib
import json

import numpy as np
import pytest

import keras_layerlock as kl
from keras_layerlock.evaluation import protocol

# The module (its function of the same name is what the package exports).
calibration_module = importlib.import_module("keras_layerlock.data.procedural.suite_calibration")


@pytest.fixture(scope="module")
def splits():
    suite = kl.data.ProceduralVideoSuite(num_frames=4, image_size=16)
    return {split: suite.load_split(split, count, verbose=False)
            for split, count in (("train", 48), ("validation", 16), ("test", 24))}


def test_trivial_baselines_against_hand_computation(splits):
    motion = protocol.trivial_baselines(splits, "motion")
    assert motion["chance"]["value"] == 1 / 8
    majority = np.bincount(splits["train"]["motion"], minlength=8).argmax()
    assert motion["majority"]["value"] == pytest.approx(
        np.mean(splits["test"]["motion"] == majority))
    depth = protocol.trivial_baselines(splits, "depth")
    train = splits["train"]["depth"].astype("float64")
    test = splits["test"]["depth"].astype("float64")
    valid = (test > 0.001) & (test < 10)
    mean = train[(train > 0.001) & (train < 10)].mean()
    expected = np.sum(np.abs(mean - test)[valid] / test[valid]) / valid.sum()
    assert depth["constant"]["value"] == pytest.approx(expected, rel=1e-4)
    # The per-pixel prior knows the layout, so it beats a constant.
    assert depth["per_pixel_prior"]["value"] < depth["constant"]["value"]
    for interval in (*motion.values(), *depth.values()):
        assert interval["low"] <= interval["value"] <= interval["high"]


def test_pixel_probe_and_frozen_backbone_rows_have_intervals(splits):
    kwargs = dict(tasks=("motion", "depth"), num_steps=5, num_seeds=2,
                  learning_rates=(1e-3,))
    pixels = protocol.evaluate_pixels(splits, **kwargs)
    backbone = kl.VideoViTBackbone.from_preset("video_vit_micro")
    frozen = protocol.evaluate_frozen_backbone(backbone, splits, layer_fractions=(1.0,),
                                               **kwargs)
    for rows in (pixels, frozen):
        for task in ("motion", "depth"):
            test = rows[task]["test"]
            assert len(test["per_seed"]) == 2 and test["num_clips"] == 24
            assert test["low"] <= test["value"] <= test["high"]


def test_calibration_files_are_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(calibration_module, "CALIBRATION_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="calibrate_suite.py"):
        kl.data.procedural.suite_calibration("standard", 8, 32)
    fingerprint = kl.data.ProceduralVideoSuite(8, 32).fingerprint()
    record = {"args": {"num_train": 4096, "num_test": 1024}, "results": {}, "checks": {},
              "suite_fingerprint": "procedural_standard_8x32x32_s0_old"}
    with open(calibration_module.calibration_path("standard", 8, 32), "w") as f:
        json.dump(record, f)
    with pytest.raises(ValueError, match="not on the current"):
        kl.data.procedural.suite_calibration("standard", 8, 32)
    record["suite_fingerprint"] = fingerprint
    with open(calibration_module.calibration_path("standard", 8, 32), "w") as f:
        json.dump(record, f)
    loaded = kl.data.procedural.suite_calibration("standard", 8, 32, num_train=4096)
    assert loaded["args"]["num_test"] == 1024 and loaded["source"]
    with pytest.raises(ValueError, match="num_train=4096"):
        kl.data.procedural.suite_calibration("standard", 8, 32, num_train=512)


def test_shipped_calibrations_meet_their_own_schema():
    import os

    for name in os.listdir(calibration_module.CALIBRATION_DIR):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(calibration_module.CALIBRATION_DIR, name)) as f:
            record = json.load(f)
        for task, rows in record["results"].items():
            assert {"floor", "ceiling", "pixel_linear_probe"} <= set(rows), (name, task)
            for interval in rows.values():
                assert interval["low"] <= interval["value"] <= interval["high"]


def test_calibrating_some_tasks_keeps_the_others_of_the_package_file(tmp_path):
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools"))
    calibrate_suite = importlib.import_module("calibrate_suite")
    counts = {"num_frames": 8, "image_size": 32, "num_train": 4096, "num_validation": 512,
              "num_test": 1024}
    old = {"args": dict(counts, tasks=["motion", "appearance"]), "command": "old command",
           "suite_fingerprint": "s1", "results": {"motion": {"ceiling": 0.4},
                                                  "appearance": {"ceiling": 0.77}},
           "checks": {"motion": {"met": False}, "appearance": {"met": True}}}
    path = str(tmp_path / "calibration.json")
    with open(path, "w") as f:
        json.dump(old, f)
    new = {"args": dict(counts, tasks=["motion"]), "command": "new command",
           "suite_fingerprint": "s1", "results": {"motion": {"ceiling": 0.76}},
           "checks": {"motion": {"met": True}},
           "task_runs": {"motion": {"command": "new command", "args": {}}}}
    merged = calibrate_suite.merged_with_package_file(new, path)
    assert merged["results"] == {"motion": {"ceiling": 0.76}, "appearance": {"ceiling": 0.77}}
    assert merged["checks"]["appearance"] == {"met": True}
    assert merged["task_runs"]["appearance"]["command"] == "old command"
    assert merged["task_runs"]["motion"]["command"] == "new command"
    assert merged["args"]["tasks"] == ["appearance", "motion"]
    assert "command" not in merged and merged["task_runs"]["motion"]["args"] == {}
    # Another suite or other clip counts: refused, and the file is left whole.
    with pytest.raises(SystemExit, match="Calibrate all tasks"):
        calibrate_suite.save_to_package(dict(new, suite_fingerprint="s2"), path)
    with open(path) as f:
        assert json.load(f) == old
    calibrate_suite.save_to_package(new, path)
    with open(path) as f:
        assert json.load(f)["results"] == merged["results"]
    with pytest.raises(SystemExit, match="num_test"):
        calibrate_suite.merged_with_package_file(
            dict(new, args=dict(new["args"], num_test=512)), path)


def test_supervised_ceiling_trains_depth_on_abs_rel_and_scores_test_clips(splits, monkeypatch):
    seen = {}
    original = protocol.train_readout

    def recording(*args, **kwargs):
        seen["loss"] = kwargs["loss"]
        return original(*args, **kwargs)

    monkeypatch.setattr(protocol, "train_readout", recording)
    backbone = kl.VideoViTBackbone.from_preset("video_vit_micro")
    result = protocol.supervised_ceiling(backbone, splits, "depth", num_steps=2, batch_size=8)
    assert isinstance(seen["loss"], kl.losses.MaskedDepthAbsRel)
    assert result["num_clips"] == 24 and result["low"] <= result["value"] <= result["high"]
    protocol.supervised_ceiling(backbone, splits, "motion", num_steps=2, batch_size=8)
    assert seen["loss"] == "auto"
