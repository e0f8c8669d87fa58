import keras
from keras import ops

from keras_layerlock.losses.masked_depth_l2 import depth_valid


@keras.saving.register_keras_serializable(package="keras_layerlock")
class AbsRel(keras.metrics.Metric):
    """Absolute relative depth error, mean |d* - d| / d over valid pixels.

    Averages over every valid pixel seen (targets outside (0.001, 10) m are
    masked out, as in the 4DS ScanNet protocol).

    Args:
        name: str.

    Example:
    ```python
    metric = AbsRel()
    metric.update_state(true_depth, predicted_depth)
    float(metric.result())
    ```
    """

    def __init__(self, name="abs_rel", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        valid = depth_valid(y_true)
        safe = ops.where(valid, y_true, 1.0)
        relative = ops.where(valid, ops.abs(y_pred - y_true) / safe, 0.0)
        self.total.assign(self.total + ops.sum(relative))
        self.count.assign(self.count + ops.sum(ops.cast(valid, "float32")))

    def result(self):
        return self.total / ops.maximum(self.count, 1.0)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)
