import keras
from keras_hub.models import Task


class KerasHubTask(Task):
    """A keras-hub `Task` that reads its inputs as `keras.Model` does.

    The base of every task model here (pretraining models and readouts):
    keras-hub's `save_to_preset` / `from_preset` (backbone, `task.json`,
    `task.weights.h5`) and its preset registry, with `fit`, `evaluate`
    and `predict` taking arrays, `PyDataset`s and `tf.data` exactly as
    `keras.Model` does. (keras-hub's `Task` turns inputs into datasets for
    its preprocessor; these models have none.) Nothing is compiled at
    construction: a model compiles when its user calls `compile`.

    Args:
        **kwargs: `keras.Model` arguments (`name`, `dtype`, ...).

    Example:
    ```python
    class MyTask(KerasHubTask):
        def __init__(self, backbone, **kwargs):
            super().__init__(**kwargs)
            self.backbone = backbone
    ```
    """

    def __init__(self, *args, **kwargs):
        kwargs["compile"] = False
        super().__init__(*args, **kwargs)

    def fit(self, *args, **kwargs):
        return keras.Model.fit(self, *args, **kwargs)

    def evaluate(self, *args, **kwargs):
        return keras.Model.evaluate(self, *args, **kwargs)

    def predict(self, *args, **kwargs):
        return keras.Model.predict(self, *args, **kwargs)

    def train_on_batch(self, *args, **kwargs):
        return keras.Model.train_on_batch(self, *args, **kwargs)

    def test_on_batch(self, *args, **kwargs):
        return keras.Model.test_on_batch(self, *args, **kwargs)

    def predict_on_batch(self, *args, **kwargs):
        return keras.Model.predict_on_batch(self, *args, **kwargs)
