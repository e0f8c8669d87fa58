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


def gradient(fn, x):
    """d fn(x) / dx for a scalar `fn` of one float32 array, on the running backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: fn(v))(np.asarray(x, "float32")))
    if backend == "torch":
        import torch

        value = torch.tensor(np.asarray(x, "float32"), requires_grad=True)
        result = fn(value)
        if not result.requires_grad:  # no path from x to the result (a stop-gradient)
            return np.zeros_like(np.asarray(x, "float32"))
        result.backward()
        return value.grad.numpy()
    import tensorflow as tf

    value = tf.Variable(np.asarray(x, "float32"))
    with tf.GradientTape() as tape:
        result = fn(value)
    grad = tape.gradient(result, value)
    return np.zeros_like(np.asarray(x, "float32")) if grad is None else grad.numpy()


class Interrupt(Exception):
    """What `KillAfter` raises: a run killed mid-training."""


class KillAfter(keras.callbacks.Callback):
    """Kills `fit` (raises `Interrupt`) after `num_batches` batches."""

    def __init__(self, num_batches):
        super().__init__()
        self.num_batches, self.seen = num_batches, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.num_batches:
            raise Interrupt()
