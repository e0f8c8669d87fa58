"""LARS (You et al., 2017) against a hand computation of its steps."""

import keras
import numpy as np
import pytest
from testing_utils import to_numpy

import keras_layerlock as kl


def test_two_steps_match_the_trust_ratio_and_exclusions_by_hand():
    kernel0 = np.array([[1.0, -2.0], [0.5, 3.0]], "float32")
    bias0 = np.array([0.5, -0.5], "float32")
    kernel = keras.Variable(kernel0, name="kernel")
    bias = keras.Variable(bias0, name="bias")
    optimizer = kl.LARS(0.5, momentum=0.9, weight_decay=0.1, trust_coefficient=0.01)
    grads = [np.array([[0.2, 0.1], [-0.3, 0.4]], "float32"), np.array([1.0, -2.0], "float32")]
    w, b = kernel0.astype("float64"), bias0.astype("float64")
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    for _ in range(2):
        optimizer.apply(grads, [kernel, bias])
        g = grads[0] + 0.1 * w  # decay, then the trust ratio, on the kernel only
        g = g * 0.01 * np.linalg.norm(w) / np.linalg.norm(g)
        vw = 0.9 * vw + g
        w = w - 0.5 * vw
        vb = 0.9 * vb + grads[1]  # the bias: plain momentum SGD
        b = b - 0.5 * vb
    np.testing.assert_allclose(to_numpy(kernel), w, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(bias), b, rtol=1e-5)
    assert optimizer.is_adapted(kernel) and not optimizer.is_adapted(bias)


def test_named_exclusions_and_zero_weights_skip_the_trust_ratio():
    kernel = keras.Variable(np.zeros((2, 2), "float32"), name="kernel")
    head = keras.Variable(np.ones((2, 2), "float32"), name="head_kernel")
    optimizer = kl.LARS(1.0, momentum=0.0, weight_decay=0.0, exclude_from_adaptation=["head"])
    grad = np.full((2, 2), 0.5, "float32")
    optimizer.apply([grad, grad], [kernel, head])
    np.testing.assert_allclose(to_numpy(kernel), -grad)  # ||w|| = 0: trust ratio 1
    np.testing.assert_allclose(to_numpy(head), 1 - grad)  # excluded by name
    assert not optimizer.is_adapted(head)


def test_lars_trains_a_model_and_round_trips_its_config():
    optimizer = kl.LARS(keras.optimizers.schedules.CosineDecay(0.0, 20, warmup_target=0.05,
                                                               warmup_steps=5), nesterov=True)
    clone = kl.LARS.from_config(optimizer.get_config())
    assert clone.get_config() == optimizer.get_config()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0).history["loss"]
    assert history[-1] < history[0]


@pytest.mark.parametrize("kwargs", [{"momentum": 1.0}, {"weight_decay": -1.0},
                                    {"trust_coefficient": True}])
def test_lars_refuses_bad_hyperparameters(kwargs):
    with pytest.raises(ValueError):
        kl.LARS(0.1, **kwargs)
