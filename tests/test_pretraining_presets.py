"""Whole pretraining models as keras-hub Tasks: save_to_preset / from_preset."""

import functools
import os

import keras
import keras_hub
import numpy as np
import pytest
from testing_utils import to_numpy

import keras_layerlock as kl


def tiny_backbone():
    return kl.VideoViTBackbone(
        hidden_dim=16, num_layers=3, num_heads=2, intermediate_dim=32,
        patch_size=(2, 8, 8), num_frames=4, image_size=16,
    )


def videos(n=8, seed=0):
    return np.random.default_rng(seed).random((n, 4, 16, 16, 3), dtype="float32")


@functools.lru_cache(maxsize=None)  # one short fit per kind for the whole module
def trained(kind):
    keras.utils.set_random_seed(0)
    if kind == "mae":
        model = kl.LayerLockMAE(tiny_backbone(), num_decoder_layers=1, seed=0)
    else:
        model = kl.VJEPA(tiny_backbone(), predictor_num_layers=2, predictor_hidden_dim=8,
                         ema_steps=10, seed=0)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    schedule = kl.LayerLockSchedule(2, 1, num_layers_per_freeze=1, target_layers=[1])
    model.fit(videos(), batch_size=4, epochs=2, verbose=0,
              callbacks=[kl.LayerLockCallback(schedule, verbose=0)])
    return model


def outputs(model, x):
    out = model(x)
    return [to_numpy(v) for values in out.values() for v in (values if isinstance(values, list) else [values])]


@pytest.mark.parametrize("kind", ["mae", "vjepa"])
def test_whole_pretraining_model_round_trips_through_a_preset(kind, tmp_path):
    model = trained(kind)
    assert isinstance(model, keras_hub.models.Task)
    assert model.num_frozen_layers == 1
    preset = str(tmp_path / "preset")
    model.save_to_preset(preset)
    for name in ("config.json", "model.weights.h5", "task.json", "task.weights.h5",
                 "metadata.json"):
        assert os.path.exists(os.path.join(preset, name)), name
    for restored in (type(model).from_preset(preset), kl.PretrainingModel.from_preset(preset)):
        assert type(restored) is type(model)
        assert restored.get_config() == model.get_config()
        assert (restored.num_frozen_layers, restored.target_layer) == (1, 1)
        assert len(restored.variables) == len(model.variables)
        for a, b in zip(model.variables, restored.variables):
            assert a.path == b.path
            np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    # The mask seeds travel with the weights: the same masks, the same outputs.
    x = videos(2, seed=1)
    restored = type(model).from_preset(preset)
    for a, b in zip(outputs(model, x), outputs(restored, x)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # The backbone alone loads from the same directory.
    backbone = kl.VideoViTBackbone.from_preset(preset)
    np.testing.assert_array_equal(to_numpy(backbone.weights[0]), to_numpy(model.backbone.weights[0]))


@pytest.mark.parametrize("kind", ["mae", "vjepa"])
def test_a_model_reloaded_from_a_preset_trains_again(kind, tmp_path):
    model = trained(kind)
    model.save_to_preset(str(tmp_path))
    restored = type(model).from_preset(str(tmp_path))
    restored.compile(optimizer=keras.optimizers.AdamW(1e-3))
    frozen = to_numpy(restored.backbone.transformer_layers[0].weights[0]).copy()
    history = restored.fit(videos(), batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    # Still in its LayerLock state: the frozen block did not move.
    np.testing.assert_array_equal(to_numpy(restored.backbone.transformer_layers[0].weights[0]),
                                  frozen)


def test_a_preset_that_does_not_match_the_model_built_is_refused(tmp_path):
    model = trained("vjepa")
    model.save_to_preset(str(tmp_path))
    for changed in (1, 3):
        with pytest.raises(ValueError, match="does not match the model built.*predictor"):
            kl.VJEPA.from_preset(str(tmp_path), predictor_num_layers=changed)


def test_a_readout_with_a_backbone_round_trips_through_a_preset(tmp_path):
    keras.utils.set_random_seed(0)
    x = videos(16, seed=2)
    labels = np.arange(16) % 4
    readout = kl.ReadoutClassifier(4, backbone=tiny_backbone(), feature_layer=2,
                                   readout_type="linear")
    assert isinstance(readout, keras_hub.models.Task)
    readout.adapt(x)
    readout.compile(optimizer=keras.optimizers.AdamW(1e-2))
    readout.fit(x, labels, batch_size=8, epochs=1, verbose=0)
    readout.save_to_preset(str(tmp_path))
    restored = kl.ReadoutClassifier.from_preset(str(tmp_path))
    assert type(restored) is kl.ReadoutClassifier
    np.testing.assert_allclose(to_numpy(restored(x)), to_numpy(readout(x)), atol=1e-5)
    restored.compile(optimizer=keras.optimizers.AdamW(1e-2))
    history = restored.fit(x, labels, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    on_features = kl.ReadoutClassifier(4, feature_dim=16, num_tokens=8, readout_type="linear")
    with pytest.raises(ValueError, match="no backbone"):
        on_features.save_to_preset(str(tmp_path / "features"))
