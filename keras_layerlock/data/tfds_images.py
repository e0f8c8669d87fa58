"""TFDS image datasets as batches of model-ready images."""

# TFDS image datasets and the keys of their image and label features.
TFDS_IMAGE_DATASETS = {
    "cifar10": ("image", "label"),
    "cifar100": ("image", "label"),
    "stl10": ("image", "label"),
    "imagenette": ("image", "label"),
    "imagenet2012": ("image", "label"),
    "imagenet_resized/32x32": ("image", "label"),
    "imagenet_resized/64x64": ("image", "label"),
    "oxford_flowers102": ("image", "label"),
}


def load_tfds_images(
    name,
    split,
    image_size,
    batch_size=64,
    shuffle=None,
    seed=0,
    data_dir=None,
    download=False,
    image_key=None,
    label_key=None,
    with_labels=True,
    drop_remainder=None,
):
    """A TFDS image dataset as batches of float32 images in [0, 1].

    Loads `name` with `tensorflow_datasets` (nothing is downloaded unless
    `download=True`) and brings every image to the input contract of the
    library's models: `uint8` pixels scaled by 1 / 255, the shorter side
    resized to `image_size` (bilinear, antialiased) and the centre
    `image_size x image_size` square cut out. Augmentation is the model's
    business: `MSBReg` / `BYOL` draw their K SimCLR views inside the
    training step from these images, on every backend, exactly as from
    NumPy arrays.

    Args:
        name: TFDS name, e.g. `"cifar10"` (known feature keys in
            `TFDS_IMAGE_DATASETS`; others need `image_key` / `label_key`).
        split: TFDS split string, e.g. `"train"` or `"test[:10%]"`.
        image_size: int. Side of the square images produced.
        batch_size: int; defaults to 64.
        shuffle: bool; defaults to `True` for a split that starts with
            `"train"`.
        seed: int. Seed of the file and example shuffling.
        data_dir: TFDS data directory.
        download: bool. Allow TFDS to download and prepare; defaults False.
        image_key, label_key: feature names (override the table).
        with_labels: bool. `(images, labels)` batches when True (the
            default), `images` alone (self-supervised pretraining) when
            False.
        drop_remainder: bool; defaults to `shuffle` (a short last batch
            would change batch statistics in training, and lose examples in
            evaluation).

    Returns:
        `tf.data.Dataset` of `(images, labels)` or `images`: images float32
        `(B, image_size, image_size, 3)` in [0, 1], labels int32 `(B,)`.

    Example:
    ```python
    train = load_tfds_images("cifar10", "train", image_size=32,
                             with_labels=False)
    model = keras_layerlock.MSBReg(backbone, num_views=4)
    model.compile(optimizer=keras_layerlock.LARS(0.3))
    model.fit(train, epochs=100)
    ```
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    default_keys = TFDS_IMAGE_DATASETS.get(name, (None, None))
    image_key = image_key or default_keys[0]
    label_key = label_key or default_keys[1]
    if image_key is None:
        raise ValueError(
            f"Unknown TFDS image dataset {name!r}: pass `image_key` (and `label_key`). "
            f"Known: {sorted(TFDS_IMAGE_DATASETS)}."
        )
    if with_labels and label_key is None:
        raise ValueError(f"{name!r} has no known label feature: pass `label_key`, or "
                         "`with_labels=False` for images alone.")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"`image_size` must be a positive int; received {image_size!r}.")
    shuffle = str(split).startswith("train") if shuffle is None else bool(shuffle)
    drop_remainder = shuffle if drop_remainder is None else bool(drop_remainder)
    ds = tfds.load(name, split=split, data_dir=data_dir, download=download,
                   shuffle_files=shuffle, read_config=tfds.ReadConfig(shuffle_seed=seed))
    if shuffle:
        ds = ds.shuffle(4096, seed=seed, reshuffle_each_iteration=True)

    def process(example):
        image = example[image_key]
        if image.dtype != tf.uint8:
            raise ValueError(f"Feature {image_key!r} of {name!r} is {image.dtype.name}; "
                             "expected uint8 images.")
        image = tf.cast(image, tf.float32) / 255.0
        if image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        height, width = tf.shape(image)[0], tf.shape(image)[1]
        scale = image_size / tf.cast(tf.minimum(height, width), tf.float32)
        resized = tf.cast(tf.math.ceil(tf.cast(tf.stack([height, width]), tf.float32) * scale),
                          tf.int32)
        image = tf.image.resize(image, resized, antialias=True)
        image = tf.image.resize_with_crop_or_pad(image, image_size, image_size)
        image = tf.clip_by_value(image, 0.0, 1.0)
        if not with_labels:
            return image
        return image, tf.cast(example[label_key], tf.int32)

    ds = ds.map(process, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
