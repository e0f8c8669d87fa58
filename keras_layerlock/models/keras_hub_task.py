import keras
from keras_hub.models import Task

from keras_layerlock.utils.keras_internals import SubclassedModelType
from keras_layerlock.utils.keras_internals import load_task_preset
from keras_layerlock.utils.preset_files import check_preset_directory
from keras_layerlock.utils.preset_files import save_preset_atomically


class KerasHubTask(Task, metaclass=SubclassedModelType):
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

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """keras-hub's `Task.from_preset`, after checking a local preset
        directory (valid JSON, the weight files it needs: a task preset
        without `task.weights.h5` is an error, not random heads). A task
        that takes any backbone (`MSBReg`) loads presets of keras-hub's
        own backbones (a `ResNetBackbone`) too."""
        load_task_weights = "num_classes" not in kwargs
        check_preset_directory(preset, load_weights, load_task_weights=load_task_weights)
        return load_task_preset(cls, preset, load_weights, load_task_weights, **kwargs)

    def save_to_preset(self, preset_dir, max_shard_size=10):
        """keras-hub's `Task.save_to_preset`, written to a temporary
        directory that replaces `preset_dir` only when complete."""
        save_preset_atomically(
            preset_dir, lambda path: super(KerasHubTask, self).save_to_preset(
                path, max_shard_size=max_shard_size)
        )

    def compile_from_config(self, config):
        # Task models override `compile` (for their defaults), which makes
        # Keras skip re-compiling a loaded model; a reloaded task must train
        # on with its optimizer state, so compile here.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

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
