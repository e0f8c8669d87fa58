import math

import keras

from keras_layerlock.utils.keras_internals import accumulation_steps
from keras_layerlock.utils.keras_internals import callback_model
from keras_layerlock.utils.keras_internals import hyperparameter_change_needs_retrace
from keras_layerlock.utils.keras_internals import optimizer_batch_count


class WeightDecayScheduler(keras.callbacks.Callback):
    """Cosine weight-decay schedule (V-JEPA's 0.04 -> 0.4) during `fit`.

    V-JEPA (Bardes et al., 2024) raises AdamW's weight decay from 0.04 to
    0.4 along a cosine over training. Keras optimizers hold
    `weight_decay` as a Python number that TensorFlow and JAX bake into the
    traced train step, so this callback changes it in steps: every
    `update_every` steps it sets the value of the cosine at that step and,
    if it changed, rebuilds the train function (a retrace of a few seconds
    on TensorFlow / JAX; PyTorch reads the value eagerly). The value is
    logged as `weight_decay`. The default granularity (a twentieth of the
    run: 20 retraces in all) follows the cosine to within 8 % of its range;
    pass a smaller `update_every` on PyTorch, or for long runs where a few
    seconds per retrace do not matter.

    Args:
        start: float. Weight decay at step 0; defaults to 0.04.
        end: float. Weight decay at `total_steps`; defaults to 0.4.
        total_steps: int. Length of the cosine.
        update_every: int. Steps between updates; defaults to
            `max(1, total_steps // 20)`.

    Example:
    ```python
    model.fit(videos, epochs=10, callbacks=[
        WeightDecayScheduler(0.04, 0.4, total_steps=10 * steps_per_epoch)])
    ```
    """

    def __init__(self, start=0.04, end=0.4, total_steps=None, update_every=None):
        super().__init__()
        if total_steps is None or int(total_steps) < 1:
            raise ValueError(f"`total_steps` must be an int >= 1; received {total_steps!r}.")
        if min(float(start), float(end)) < 0:
            raise ValueError(f"Weight decays must be >= 0; received start={start}, end={end}.")
        self.start = float(start)
        self.end = float(end)
        self.total_steps = int(total_steps)
        self.update_every = int(update_every or max(1, self.total_steps // 20))
        if self.update_every < 1:
            raise ValueError(f"`update_every` must be >= 1; received {update_every}.")
        self._batches = None

    def value_at(self, step):
        """The cosine's value at `step` (held after `total_steps`)."""
        progress = min(max(step, 0) / self.total_steps, 1.0)
        return self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def on_train_begin(self, logs=None):
        self._batches = None

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = callback_model(self).optimizer
        if self._batches is None:
            # Batches counted here, steps are optimizer updates (they differ
            # under gradient accumulation).
            self._accumulation = accumulation_steps(optimizer)
            self._batches = optimizer_batch_count(optimizer)
        step = self._batches // self._accumulation
        step = step - step % self.update_every
        value = self.value_at(step)
        if optimizer.weight_decay is None or abs(optimizer.weight_decay - value) > 1e-12:
            optimizer.weight_decay = value
            if hyperparameter_change_needs_retrace():
                callback_model(self).make_train_function(force=True)

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if logs is not None:
            logs["weight_decay"] = callback_model(self).optimizer.weight_decay

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["weight_decay"] = callback_model(self).optimizer.weight_decay
