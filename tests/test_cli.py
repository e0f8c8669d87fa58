"""The `keras-layerlock` command: recipes, pretrain (with resume) and evaluate."""

import json
import os

import pytest

from keras_layerlock import cli


def test_recipes_lists_every_recipe(capsys):
    from keras_layerlock.recipes import RECIPES

    cli.main(["recipes"])
    out = capsys.readouterr().out
    for name in RECIPES:
        assert name in out


def test_pretrain_then_evaluate_on_the_procedural_suite(tmp_path, capsys):
    out_dir = str(tmp_path / "run")
    args = ["pretrain", "--recipe", "tiny", "--output_dir", out_dir, "--steps", "4",
            "--batch_size", "4", "--num_clips", "8", "--verbose", "2"]
    summary = cli.main(args)
    assert summary["steps"] == 4 and summary["layerlock"]
    for name in ("preset/config.json", "preset/model.weights.h5", "preset/task.json",
                 "pretraining_model.keras", "pretrain.json"):
        assert os.path.exists(os.path.join(out_dir, name)), name
    assert os.listdir(os.path.join(out_dir, "logs")), "no TensorBoard logs"
    assert os.listdir(os.path.join(out_dir, "backup")), "no BackupAndRestore state"
    saved = json.load(open(os.path.join(out_dir, "pretrain.json")))
    assert saved["final_loss"] is not None and saved["backend"]
    import keras_layerlock as kl

    whole = kl.PretrainingModel.from_preset(os.path.join(out_dir, "preset"))
    assert whole.num_frozen_layers == summary["num_frozen_layers"]
    # The same command again resumes from the backup: nothing left to train.
    again = cli.main(args)
    assert again["num_frozen_layers"] == summary["num_frozen_layers"]

    results_path = str(tmp_path / "results.json")
    results = cli.main(["evaluate", os.path.join(out_dir, "preset"), "--tasks", "motion",
                        "--num_layers", "4", "--num_train", "16", "--num_validation", "8",
                        "--num_test", "8", "--num_steps", "3", "--num_seeds", "1",
                        "--output", results_path])
    row = results["motion"]
    assert 0.0 <= row["low"] <= row["value"] <= row["high"] <= 1.0
    assert json.load(open(results_path))["results"]["motion"] == row
    assert "| motion |" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["pretrain", "--recipe", "tinyy", "--output_dir", "x"], "unknown recipe 'tinyy'"),
    (["pretrain", "--output_dir", "x", "--steps", "0"], "--steps must be positive"),
    (["pretrain", "--output_dir", "x", "--data", "/no/such/folder"], "no such folder"),
])
def test_bad_arguments_say_what_is_wrong(argv, message):
    with pytest.raises(SystemExit, match=message):
        cli.main(argv)
