"""Which process of a multi-host run this is (the backend-specific part of
the distribution support: `keras.distribution` runs multi-process on JAX
only)."""

import keras


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
    if keras.backend.backend() != "jax":
        return 0, 1
    import jax

    return int(jax.process_index()), int(jax.process_count())
