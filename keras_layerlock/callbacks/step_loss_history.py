import keras


class StepLossHistory(keras.callbacks.Callback):
    """Records every training step's own loss.

    Keras logs the running mean of the loss over the current epoch at the
    end of each batch, so `logs["loss"]` at batch `b` averages steps
    `0..b`, and a curve drawn from it lags and flattens (a LayerLock target
    switch shows up spread over the rest of the epoch). This callback
    undoes the mean: the loss of the steps since the previous call is
    `(n * mean_n - m * mean_m) / (n - m)` for `n` and `m` steps seen.
    With `steps_per_execution > 1` one value covers each executed group of
    steps (their mean) and is recorded at the group's last step.

    Args:
        key: the logs entry to record; defaults to `"loss"`. Any running
            mean Keras logs (a compiled metric) works the same way.

    Attributes:
        steps: global step (counting from 1 over the whole `fit`) of
            every recorded value.
        losses: the recorded per-step values, floats.

    Example:
    ```python
    history = keras_layerlock.StepLossHistory()
    model.fit(videos, epochs=3, callbacks=[history])
    plt.plot(history.steps, history.losses)
    ```
    """

    def __init__(self, key="loss"):
        super().__init__()
        self.key = key
        self.steps, self.losses = [], []
        self._global_step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._seen, self._mean = 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        if not logs or self.key not in logs:
            return
        seen = int(batch) + 1
        if not hasattr(self, "_seen") or seen <= self._seen:
            # fit() without an epoch start (e.g. a direct call): restart.
            self._seen, self._mean = 0, 0.0
        mean = float(logs[self.key])
        count = seen - self._seen
        self._global_step += count
        self.steps.append(self._global_step)
        self.losses.append((seen * mean - self._seen * self._mean) / count)
        self._seen, self._mean = seen, mean
