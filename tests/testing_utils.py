"""Helpers shared by the tests (imported as a plain module)."""

import os

import keras
import numpy as np


def to_numpy(x):
    if isinstance(x, (list, tuple)):
        return [to_numpy(v) for v in x]
    return np.asarray(keras.ops.convert_to_numpy(x))


def grid_coords(grid):
    t, h, w = np.meshgrid(*(np.arange(g) for g in grid), indexing="ij")
    return np.stack([t.ravel(), h.ravel(), w.ravel()], -1).astype("int32")


def keras_file_round_trip(model, tmp_path, inputs, atol=1e-6):
    """Saves `model` as `.keras`, reloads it and checks configs and outputs."""
    path = os.path.join(str(tmp_path), "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model)
    expected = to_numpy(model(inputs))
    actual = to_numpy(restored(inputs))
    if not isinstance(expected, list):
        expected, actual = [expected], [actual]
    assert len(expected) == len(actual)
    for e, a in zip(expected, actual):
        np.testing.assert_allclose(a, e, atol=atol, rtol=0)
    return restored


def config_round_trip(layer):
    """`get_config` -> `from_config` gives an equal config."""
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    return clone
