"""Which process of a multi-host run this is."""

from keras_layerlock.utils.keras_internals import process_index_and_count


def process_shard():
    """`(shard_index, num_shards)` for this process's share of the data.

    After `keras.distribution.initialize(...)` on JAX, JAX's process index
    and count; on one host, or under TensorFlow or PyTorch (whose
    `keras.distribution` support is single-process), `(0, 1)`.

    Returns:
        tuple of two ints.

    Example:
    ```python
    keras.distribution.initialize()  # on every host of the job
    index, count = kl.distribution.process_shard()
    train = kl.data.VideoFolderDataset("videos/", batch_size=global_batch // count,
                                       shard_index=index, num_shards=count)
    ```
    """
    return process_index_and_count()
