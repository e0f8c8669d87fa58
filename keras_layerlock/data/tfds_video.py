import numpy as np

from keras_layerlock.data.video_augmentation import VideoClipSampler

# TFDS video datasets and the keys of their video and label features.
TFDS_VIDEO_DATASETS = {
    "ucf101": ("video", "label"),
    "something_something_v2": ("video", "label"),
    "kinetics400": ("video", "label"),
    "kinetics600": ("video", "label"),
    "kinetics700": ("video", "label"),
    "bair_robot_pushing_small": ("image_aux1", None),
}


def load_tfds_video(
    name,
    split,
    sampler=None,
    batch_size=8,
    shuffle=None,
    seed=0,
    data_dir=None,
    download=False,
    video_key=None,
    label_key=None,
    num_parallel_calls=None,
):
    """A TFDS video dataset as batches of model-ready clips.

    Loads `name` with `tensorflow_datasets` (nothing is downloaded unless
    `download=True`: prepare the data beforehand, or point `data_dir` at
    it) and applies a `VideoClipSampler` to every video: clip sampling,
    the 4DS resize and crop, flips and colour augmentation in training, one
    central or several evenly spaced clips at test time. The same NumPy /
    OpenCV code as `VideoFolderDataset` runs inside `tf.numpy_function`, so
    both pipelines give identical clips for identical frames.

    Args:
        name: TFDS name, e.g. `"ucf101"` (known feature keys in
            `TFDS_VIDEO_DATASETS`; others need `video_key` / `label_key`).
        split: TFDS split string, e.g. `"train"` or `"test[:10%]"`.
        sampler: `VideoClipSampler`; defaults to 16 frames every 2, 224
            crop, evaluation mode.
        batch_size: int; defaults to 8.
        shuffle: bool; defaults to `sampler.training`.
        seed: int. Seed of shuffling and augmentation.
        data_dir: TFDS data directory.
        download: bool. Allow TFDS to download and prepare; defaults False.
        video_key, label_key: feature names (override the table).
        num_parallel_calls: clips processed in parallel; defaults to
            AUTOTUNE.

    Returns:
        `tf.data.Dataset` of `(clips, labels)` (`clips` only when the dataset
        has no label), clips float32 in [0, 1].

    Example:
    ```python
    sampler = VideoClipSampler(num_frames=16, stride=2, crop_size=224,
                               training=True)
    train = load_tfds_video("ucf101", "train", sampler=sampler)
    ```
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    sampler = sampler or VideoClipSampler()
    default_keys = TFDS_VIDEO_DATASETS.get(name, (None, None))
    video_key = video_key or default_keys[0]
    label_key = label_key if label_key is not None else default_keys[1]
    if video_key is None:
        raise ValueError(
            f"Unknown TFDS video dataset {name!r}: pass `video_key` (and "
            f"`label_key`). Known: {sorted(TFDS_VIDEO_DATASETS)}"
        )
    shuffle = sampler.training if shuffle is None else bool(shuffle)
    ds = tfds.load(
        name,
        split=split,
        data_dir=data_dir,
        download=download,
        shuffle_files=shuffle,
        read_config=tfds.ReadConfig(shuffle_seed=seed),
    )
    if shuffle:
        ds = ds.shuffle(256, seed=seed, reshuffle_each_iteration=True)

    def process(example):
        # A fresh draw per example and epoch; NumPy generators are not
        # shared between the parallel calls.
        draw = tf.random.uniform((), 0, 2**62, dtype=tf.int64, seed=seed)

        def run(frames, key):
            rng = np.random.default_rng((seed, int(key)))
            return sampler(frames, rng).astype("float32")

        clip = tf.numpy_function(run, [example[video_key], draw], tf.float32)
        clip.set_shape(sampler.output_shape)
        if label_key is None:
            return clip
        return clip, tf.cast(example[label_key], tf.int32)

    ds = ds.map(process, num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
