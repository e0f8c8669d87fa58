import keras

from keras_layerlock.utils.keras_internals import ProgbarLoggerWithIntegerLogs

# The LayerLock state that `PretrainingModel` puts into the `fit` logs.
LAYERLOCK_STATE_LOGS = ("num_frozen_layers", "target_layer")


@keras.saving.register_keras_serializable(package="keras_layerlock")
class IntegerLogsProgbarLogger(ProgbarLoggerWithIntegerLogs):
    """Keras' progress bar, with integer-valued logs printed as integers.

    Keras' `ProgbarLogger` prints every log as a float, so LayerLock's
    state reads `num_frozen_layers: 2.0000` or `0.0000e+00`. This bar
    prints the logs named in `integer_logs` as ints (`num_frozen_layers:
    2`) and everything else as Keras does. `PretrainingModel.fit` uses it
    whenever the callbacks hold no progress bar of their own.

    Args:
        integer_logs: names of the logs to print as integers; defaults to
            LayerLock's state (`num_frozen_layers`, `target_layer`).

    Example:
    ```python
    model.fit(videos, epochs=2, callbacks=[
        keras_layerlock.callbacks.IntegerLogsProgbarLogger(["num_frozen_layers"])])
    ```
    """

    def __init__(self, integer_logs=LAYERLOCK_STATE_LOGS):
        super().__init__()
        if isinstance(integer_logs, str) or not all(isinstance(k, str) for k in integer_logs):
            raise ValueError(
                "`integer_logs` must be a list of log names; received "
                f"{integer_logs!r}. Pass e.g. ['num_frozen_layers']."
            )
        self.integer_logs = tuple(integer_logs)

    def get_config(self):
        return {"integer_logs": list(self.integer_logs)}
