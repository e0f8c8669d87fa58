import keras
from keras import ops

from keras_layerlock.losses.masked_depth_abs_rel import relative_depth_error


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
        relative, valid = relative_depth_error(y_true, y_pred)
        self.total.assign(self.total + ops.sum(relative))
        self.count.assign(self.count + ops.sum(valid))

    def result(self):
        return self.total / ops.maximum(self.count, 1.0)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)
