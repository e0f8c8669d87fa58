"""Damaged preset directories are named with what is wrong, and a failed save
never damages an existing preset (issue: "every bad input gets a clear error
or a counted skip")."""

import json
import os
import shutil

import numpy as np
import pytest
from testing_utils import to_numpy

import keras_layerlock as kl


def micro_preset(tmp_path, name="preset"):
    backbone = kl.VideoViTBackbone.from_preset("video_vit_micro")
    path = str(tmp_path / name)
    backbone.save_to_preset(path)
    return backbone, path


def test_a_preset_without_its_weights_file_names_that_file(tmp_path):
    _, path = micro_preset(tmp_path)
    os.remove(os.path.join(path, "model.weights.h5"))
    with pytest.raises(FileNotFoundError, match=r"has no model.weights.h5 .*load_weights=False"):
        kl.VideoViTBackbone.from_preset(path)
    # Asked for the architecture alone, it builds.
    assert kl.VideoViTBackbone.from_preset(path, load_weights=False).num_layers == 2


@pytest.mark.parametrize("name", ["config.json", "metadata.json"])
def test_invalid_json_in_a_preset_names_the_file(tmp_path, name):
    _, path = micro_preset(tmp_path)
    with open(os.path.join(path, name), "w") as f:
        f.write('{"class_name": ')
    with pytest.raises(ValueError, match=rf"{name} is not valid JSON"):
        kl.VideoViTBackbone.from_preset(path)


def test_a_task_preset_without_task_weights_is_refused_not_loaded_with_random_heads(tmp_path):
    mae = kl.LayerLockMAE(kl.VideoViTBackbone.from_preset("video_vit_micro"), num_decoder_layers=1)
    path = str(tmp_path / "mae")
    mae.save_to_preset(path)
    assert {"task.json", "task.weights.h5", "model.weights.h5"} <= set(os.listdir(path))
    with open(os.path.join(path, "task.json")) as f:
        json.load(f)
    os.remove(os.path.join(path, "task.weights.h5"))
    with pytest.raises(FileNotFoundError, match=r"not its weights \(task.weights.h5\)"):
        kl.PretrainingModel.from_preset(path)


def test_a_failed_save_leaves_the_existing_preset_whole(tmp_path, monkeypatch):
    backbone, path = micro_preset(tmp_path)
    before = {name: open(os.path.join(path, name), "rb").read() for name in os.listdir(path)}
    other = kl.VideoViTBackbone.from_preset("video_vit_micro", hidden_dim=32, num_heads=2)

    def full_disk(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"\x89HDF\r\n")  # a partial file, as a dying write leaves
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kl.VideoViTBackbone, "save_weights", full_disk)
    with pytest.raises(OSError, match="No space left"):
        other.save_to_preset(path)
    monkeypatch.undo()
    after = {name: open(os.path.join(path, name), "rb").read() for name in os.listdir(path)}
    assert after == before
    assert sorted(os.listdir(tmp_path)) == ["preset"]  # no partial directory left behind
    restored = kl.VideoViTBackbone.from_preset(path)
    for a, b in zip(restored.weights, backbone.weights):
        np.testing.assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()))


def test_saving_over_a_preset_replaces_it(tmp_path):
    _, path = micro_preset(tmp_path)
    wider = kl.VideoViTBackbone.from_preset("video_vit_micro", hidden_dim=32, num_heads=2)
    wider.save_to_preset(path)
    assert kl.VideoViTBackbone.from_preset(path).hidden_dim == 32
    assert sorted(os.listdir(tmp_path)) == ["preset"]
    shutil.rmtree(path)


def test_a_damaged_keras_file_is_named_with_what_is_wrong(tmp_path):
    """Keras' own `load_model` says "File not found" for a file cut short."""
    model = kl.LayerLockMAE(kl.VideoViTBackbone.from_preset("video_vit_micro"),
                            num_decoder_layers=1, seed=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = kl.load_model(path)
    assert type(restored) is kl.LayerLockMAE
    for a, b in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)
    data = open(path, "rb").read()
    cut = str(tmp_path / "cut.keras")
    with open(cut, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.keras \([\d,]+ bytes\) is not a complete"):
        kl.load_model(cut)
    empty = str(tmp_path / "empty.keras")
    open(empty, "wb").close()
    with pytest.raises(ValueError, match="empty"):
        kl.load_model(empty)
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        kl.load_model(str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match="from_preset"):
        kl.load_model(str(tmp_path))
