import keras


class DatasetEpochSync(keras.callbacks.Callback):
    """Tells a dataset which epoch `fit` is starting, for exact resumes.

    `keras.callbacks.BackupAndRestore` restores the weights, the optimizer
    and the epoch to start at, but not a dataset's shuffling state: a
    resumed run would replay epoch 0's order. The library's datasets
    (`ArrayClipDataset`, `VideoFolderDataset`) draw epoch `e`'s order from
    `(seed, e)` and expose `set_epoch(e)`; this callback calls it at every
    epoch's start, so the resumed run sees the batches the uninterrupted
    one saw. The library's models add it to their `fit` when the data has
    `set_epoch`.

    Args:
        dataset: an object with a `set_epoch(epoch)` method.

    Example:
    ```python
    data = keras_layerlock.data.ArrayClipDataset(videos, labels, batch_size=8)
    model.fit(data, epochs=4, shuffle=False, callbacks=[
        DatasetEpochSync(data), keras.callbacks.BackupAndRestore("backup")])
    ```
    """

    def __init__(self, dataset):
        super().__init__()
        if not callable(getattr(dataset, "set_epoch", None)):
            raise ValueError(
                f"`dataset` must have a `set_epoch(epoch)` method; received a "
                f"{type(dataset).__name__}. The library's ArrayClipDataset and "
                "VideoFolderDataset have one."
            )
        self.dataset = dataset

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.set_epoch(epoch)
