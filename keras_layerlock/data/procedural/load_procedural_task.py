import numpy as np

from keras_layerlock.data.array_clip_dataset import ArrayClipDataset
from keras_layerlock.data.procedural.procedural_video_suite import SPLITS
from keras_layerlock.data.procedural.procedural_video_suite import ProceduralVideoSuite
from keras_layerlock.data.procedural.procedural_video_suite import _check_task
from keras_layerlock.data.procedural.procedural_video_suite import default_cache_dir
from keras_layerlock.data.procedural.procedural_video_suite import task_targets

DEFAULT_NUM_EXAMPLES = {"train": 2048, "validation": 512, "test": 512}


def load_procedural_task(
    task,
    splits=("train", "validation"),
    num_examples=None,
    batch_size=16,
    num_frames=16,
    image_size=64,
    seed=0,
    cache_dir="default",
    format="tf",
    shuffle_seed=0,
    verbose=True,
):
    """Train/validation/test sets of one procedural task, ready for `fit`.

    Renders (or reads from the on-disk cache) the clips of each split of a
    `ProceduralVideoSuite` and wraps them as batched datasets that yield
    `(videos, targets)`: float32 videos `(B, T, H, W, 3)` in [0, 1] and int
    labels (`"motion"`, `"appearance"`) or float32 depth maps
    `(B, T, H, W)` in metres (`"depth"`). Training splits are shuffled every
    epoch; the others are not.

    Args:
        task: `"motion"`, `"appearance"` or `"depth"`.
        splits: a split name or a tuple of them, from `("train",
            "validation", "test")`.
        num_examples: int or `{split: int}`; defaults to 2048 train and 512
            validation / test clips.
        batch_size: int; defaults to 16.
        num_frames, image_size, seed: the suite's parameters.
        cache_dir: directory of the clip cache, `"default"` for
            `default_cache_dir()`, or None to render in memory every call.
        format: `"tf"` for a `tf.data.Dataset` or `"py"` for a
            backend-neutral `keras.utils.PyDataset`. Both feed `fit` under
            every backend.
        shuffle_seed: int. Seed of the training-set shuffle.
        verbose: bool. Progress bar while rendering.

    Returns:
        One dataset per split (a tuple, or the dataset itself when `splits`
        is a string).

    Example:
    ```python
    train, val = keras_layerlock.data.load_procedural_task(
        "motion", num_frames=8, image_size=32, batch_size=16)
    model.fit(train, validation_data=val, epochs=3)
    ```
    """
    _check_task(task)
    single = isinstance(splits, str)
    splits = (splits,) if single else tuple(splits)
    if format not in ("tf", "py"):
        raise ValueError(f"`format` must be 'tf' or 'py'; received {format!r}.")
    if cache_dir == "default":
        cache_dir = default_cache_dir()
    suite = ProceduralVideoSuite(num_frames=num_frames, image_size=image_size, seed=seed)
    datasets = []
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}. Expected one of {SPLITS}.")
        count = num_examples
        if count is None:
            count = DEFAULT_NUM_EXAMPLES[split]
        elif isinstance(count, dict):
            count = count.get(split, DEFAULT_NUM_EXAMPLES[split])
        data = suite.load_split(split, count, cache_dir=cache_dir, verbose=verbose)
        targets = task_targets(data, task)
        shuffle = split == "train"
        if format == "py":
            datasets.append(
                ArrayClipDataset(
                    data["video"], targets, batch_size, shuffle=shuffle, seed=shuffle_seed
                )
            )
        else:
            datasets.append(
                _tf_dataset(data["video"], targets, batch_size, shuffle, shuffle_seed)
            )
    return datasets[0] if single else tuple(datasets)


def _tf_dataset(videos, targets, batch_size, shuffle, seed):
    """Batches as a `tf.data.Dataset` in the order an `ArrayClipDataset`
    with the same seed gives: epoch `e`'s order comes from `(seed, e)`, and
    the dataset's `set_epoch` (called by `DatasetEpochSync`) fixes the
    epoch the next iteration plays, so a resumed run replays the same
    batches. Without `set_epoch` calls, each iteration plays the next
    epoch."""
    import tensorflow as tf

    order = ArrayClipDataset(videos, targets, batch_size, shuffle=shuffle, seed=seed)
    state = {"started": False, "epoch_was_set": False}

    def epoch_indices():
        if state["started"] and not state["epoch_was_set"]:
            order.on_epoch_end()
        state["started"], state["epoch_was_set"] = True, False
        return order._order.astype("int64")

    def set_epoch(epoch):
        order.set_epoch(epoch)
        state["epoch_was_set"] = True

    all_videos = tf.constant(videos)
    all_targets = tf.constant(targets)
    def one_epoch(_):
        # Runs once per iteration, when the iteration starts.
        indices = tf.numpy_function(epoch_indices, [], tf.int64, stateful=True)
        indices.set_shape([None])
        return tf.data.Dataset.from_tensor_slices(indices)

    def gather(indices):
        indices = tf.sort(indices)
        clips = tf.cast(tf.gather(all_videos, indices), tf.float32) / 255.0
        return clips, tf.gather(all_targets, indices)

    ds = tf.data.Dataset.from_tensors(np.int64(0)).flat_map(one_epoch)
    ds = ds.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    # flat_map hides the length, which `fit` needs for its progress bar.
    ds = ds.apply(tf.data.experimental.assert_cardinality(len(order)))
    ds = ds.prefetch(tf.data.AUTOTUNE)
    ds.set_epoch = set_epoch
    return ds
