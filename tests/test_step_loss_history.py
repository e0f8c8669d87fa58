import keras
import numpy as np
import pytest

import keras_layerlock as kl


def fixed_model(steps_per_execution=1):
    # Learning rate 0: every step's loss is that batch's loss under the
    # initial weights, computable without the training loop.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.0), loss="mse", steps_per_execution=steps_per_execution)
    return model


def data():
    rng = np.random.default_rng(0)
    # Batches of very different scale, so a running mean differs from
    # every step's own value.
    x = rng.normal(size=(16, 3)).astype("float32") * np.repeat([1, 5, 0.2, 3], 4)[:, None]
    y = rng.normal(size=(16, 1)).astype("float32")
    return x, y


def batch_losses(model, x, y, batch_size):
    predictions = keras.ops.convert_to_numpy(model(x))
    errors = ((predictions - y) ** 2).reshape(-1, batch_size).mean(axis=1)
    return errors.astype("float64")


def test_records_each_steps_own_loss_across_epochs():
    model = fixed_model()
    x, y = data()
    history = kl.StepLossHistory()
    fit = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[history])
    expected = batch_losses(model, x, y, 4)
    assert history.steps == list(range(1, 9))
    np.testing.assert_allclose(history.losses, np.tile(expected, 2), rtol=1e-4)
    # What Keras itself logs at the end of an epoch is the running mean.
    np.testing.assert_allclose(fit.history["loss"][-1], expected.mean(), rtol=1e-4)
    assert not np.allclose(expected, expected.mean(), rtol=0.1)


@pytest.mark.skipif(
    keras.backend.backend() == "torch",
    reason="Keras' PyTorch trainer only supports steps_per_execution=1",
)
def test_steps_per_execution_records_group_means():
    model = fixed_model(steps_per_execution=2)
    x, y = data()
    history = kl.StepLossHistory()
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[history])
    expected = batch_losses(model, x, y, 4).reshape(2, 2).mean(axis=1)
    assert history.steps == [2, 4]
    np.testing.assert_allclose(history.losses, expected, rtol=1e-4)


def test_missing_key_records_nothing():
    model = fixed_model()
    x, y = data()
    history = kl.StepLossHistory(key="not_logged")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[history])
    assert history.losses == [] and history.steps == []
