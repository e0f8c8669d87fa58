import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_layerlock")
class LastValue(keras.metrics.Metric):
    """A metric that reports the last value it was given.

    Used to put state such as LayerLock's number of frozen blocks and target layer into
    `fit` logs (progress bar, `CSVLogger`, TensorBoard) on every backend.

    Args:
        name: str.
        dtype: metric dtype; defaults to float32.

    Example:
    ```python
    depth = LastValue(name="num_frozen_layers")
    depth.update_state(3)
    float(depth.result())  # 3.0
    ```
    """

    def __init__(self, name="last_value", dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        self.value = self.add_variable(shape=(), initializer="zeros", name="value")

    def update_state(self, value):
        self.value.assign(ops.cast(value, self.dtype))

    def result(self):
        return ops.convert_to_tensor(self.value)

    def reset_state(self):
        # Keeps the value across epochs: it is state, not an average.
        pass
