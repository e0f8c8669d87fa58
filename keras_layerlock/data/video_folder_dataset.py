import csv
import os
import threading
import warnings

import keras
import numpy as np

from keras_layerlock.data.video_augmentation import VideoClipSampler
from keras_layerlock.data.video_decoding import VIDEO_EXTENSIONS
from keras_layerlock.data.video_decoding import VideoDecodeError
from keras_layerlock.data.video_decoding import decode_video
from keras_layerlock.data.video_decoding import list_class_folders
from keras_layerlock.data.video_decoding import list_flat_video_files
from keras_layerlock.data.video_decoding import list_video_files


class DecodeStatistics:
    """Thread-safe counts of decoded, skipped and repeated videos.

    - `decoded`: clips decoded, stand-ins included.
    - `skipped_files`: each unreadable path and why; a file is counted once
      however many times it is met.
    - `replacements`: batch slots whose own video was unreadable and that
      took the next readable one instead; `repeated_files` maps each video
      used so to how many times it stood in. A pass over a folder with
      `skipped` bad files therefore reads `replacements` good videos twice
      (or more), and says so here.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.decoded = 0
        self.skipped_files = {}
        self.replacements = 0
        self.repeated_files = {}

    @property
    def skipped(self):
        return len(self.skipped_files)

    def record_success(self):
        with self._lock:
            self.decoded += 1

    def record_failure(self, path, reason):
        with self._lock:
            first_time = path not in self.skipped_files
            self.skipped_files[path] = reason
        if first_time:
            warnings.warn(f"Skipping unreadable video: {reason}", stacklevel=3)

    def record_replacement(self, path):
        """`path` stood in for an unreadable video in one batch slot."""
        with self._lock:
            self.replacements += 1
            self.repeated_files[path] = self.repeated_files.get(path, 0) + 1

    def as_dict(self):
        with self._lock:
            return {
                "decoded": self.decoded,
                "skipped": len(self.skipped_files),
                "skipped_files": dict(self.skipped_files),
                "replacements": self.replacements,
                "repeated_files": dict(self.repeated_files),
            }

    def __repr__(self):
        return (f"DecodeStatistics(decoded={self.decoded}, skipped={self.skipped}, "
                f"replacements={self.replacements})")


class VideoFolderDataset(keras.utils.PyDataset):
    """Video clips read from files with OpenCV, for `fit` anywhere.

    Videos come from a folder with one sub-folder per class
    (`root/class_name/*.mp4`, classes numbered in sorted order), from a flat
    folder of videos (`root/*.mp4`: unlabelled, for self-supervised
    pretraining; batches are then clips alone, `labeled` is False), or from a
    CSV file of `path,label` rows (labels may be ints or class names; paths
    are relative to the CSV's folder unless absolute). Any container
    OpenCV reads works: mp4, avi, webm, mkv, mov, ...

    A video that cannot be decoded (missing, empty, corrupt, truncated, or
    sampled into non-finite values) is skipped with a warning and counted
    in `statistics`; the batch takes the next readable video in its place,
    so an epoch never dies on a bad file and batches keep their size. That
    video is then read twice in the pass, and `statistics.replacements` /
    `repeated_files` count each such stand-in. If no video at all can be
    read, an error says so.

    Labels: class sub-folders are numbered in sorted order, empty ones
    included (with a warning), so a label always matches the folder
    listing. CSV labels must be class indices >= 0 (below
    `len(class_names)` when given) or names in `class_names`; any other is
    an error naming its line.

    Epoch `e`'s order and augmentation draws come from `(seed, e)`:
    `set_epoch` (called by `DatasetEpochSync`, which the library's models
    add to `fit`) makes a resumed run see the batches of an uninterrupted
    one.

    Decoding runs in `workers` threads (OpenCV releases the GIL while
    decoding); `as_tf_dataset()` gives the same batches as a
    `tf.data.Dataset` with parallel calls.

    Args:
        source: folder path or CSV path.
        sampler: a `VideoClipSampler` (clip length, stride, crop,
            augmentation, test clips); defaults to 16 frames every 2, 224
            crop, evaluation mode.
        batch_size: int; defaults to 8.
        shuffle: bool. Reshuffle every epoch; defaults to `sampler.training`.
        seed: int. Seed of shuffling and augmentation.
        class_names: list of class names fixing the label numbering
            (e.g. to share it between train and validation folders).
        allow_truncated: bool. Keep the decodable frames of truncated files.
        workers: int. Decoding threads; defaults to 2.
        num_shards, shard_index: ints. For multi-host training: this
            process reads only shard `shard_index` of `num_shards` (every
            `num_shards`-th video of each epoch's order, which all
            processes draw alike from `seed`; the videos that do not fill
            a last round are left out of that epoch so that every process
            takes the same number of steps). Pass
            `kl.distribution.process_shard()` (this process's index and
            the process count) with a per-process `batch_size`, and build
            `keras.distribution.DataParallel(auto_shard_dataset=False)`:
            Keras itself shards only `tf.data` datasets. Defaults: one
            shard.
        **kwargs: other `keras.utils.PyDataset` arguments.

    Example:
    ```python
    sampler = VideoClipSampler(num_frames=16, stride=2, crop_size=224,
                               training=True)
    train = VideoFolderDataset("videos/train", sampler=sampler,
                               batch_size=8)
    model.fit(train, epochs=1)
    print(train.statistics.as_dict())  # decoded / skipped counts
    ```
    """

    def __init__(
        self,
        source,
        sampler=None,
        batch_size=8,
        shuffle=None,
        seed=0,
        class_names=None,
        allow_truncated=False,
        workers=2,
        num_shards=1,
        shard_index=0,
        **kwargs,
    ):
        super().__init__(workers=workers, use_multiprocessing=False, **kwargs)
        self.sampler = sampler or VideoClipSampler()
        if int(batch_size) <= 0:
            raise ValueError(f"`batch_size` must be positive; received {batch_size}.")
        self.batch_size = int(batch_size)
        self.shuffle = self.sampler.training if shuffle is None else bool(shuffle)
        self.allow_truncated = bool(allow_truncated)
        self.seed = int(seed)
        self.statistics = DecodeStatistics()
        paths, labels = self._read_source(source, class_names)
        if not paths:
            raise ValueError(
                f"No video files found in {source!r}: expected videos "
                f"({', '.join(VIDEO_EXTENSIONS)}) in it or in one sub-folder per class."
            )
        self.paths = paths
        self.labels = np.asarray(labels, "int32")
        if isinstance(num_shards, bool) or not isinstance(num_shards, int) or not (
                1 <= num_shards <= len(paths)):
            raise ValueError(f"`num_shards` must be an int in [1, {len(paths)}] (the number of "
                             f"videos); received {num_shards!r}.")
        if isinstance(shard_index, bool) or not isinstance(shard_index, int) or not (
                0 <= shard_index < num_shards):
            raise ValueError(f"`shard_index` must be an int in [0, {num_shards}); received "
                             f"{shard_index!r}.")
        self.num_shards, self.shard_index = num_shards, shard_index
        self._epoch = 0
        self._order = self._make_order()

    def _read_source(self, source, class_names):
        self.labeled = True
        if os.path.isdir(source):
            items = list_video_files(source)
            flat = list_flat_video_files(source)
            if flat and items:
                raise ValueError(
                    f"{source!r} holds both videos ({len(flat)}, e.g. "
                    f"{os.path.basename(flat[0])!r}) and class sub-folders "
                    f"({len(items)} videos); use one layout: class sub-folders "
                    "for labelled clips, or only videos for unlabelled ones."
                )
            if flat:
                if class_names is not None:
                    raise ValueError(
                        f"{source!r} is a flat folder of unlabelled videos; "
                        f"`class_names`={list(class_names)} needs class sub-folders."
                    )
                self.labeled = False
                self.class_names = None
                return flat, [-1] * len(flat)
            folders = list_class_folders(source)
            names = folders if class_names is None else list(class_names)
            present = {c for _, c in items}
            unknown = sorted(present - set(names))
            if unknown:
                raise ValueError(f"Folders {unknown} are not in `class_names`={names}.")
            empty = [name for name in folders if name in names and name not in present]
            if empty:
                warnings.warn(
                    f"Class folders {empty} in {source!r} hold no videos; they keep their "
                    f"labels ({', '.join(f'{n}={names.index(n)}' for n in empty)}) so that "
                    "every label matches the folder listing.",
                    stacklevel=3,
                )
            self.class_names = names
            return [p for p, _ in items], [names.index(c) for _, c in items]
        if not os.path.isfile(source):
            raise ValueError(
                f"{source!r} is neither a folder of class sub-folders nor a CSV file."
            )
        base = os.path.dirname(os.path.abspath(source))
        rows = []
        with open(source, newline="") as f:
            for line, row in enumerate(csv.reader(f), start=1):
                if not row or row[0].strip().startswith("#"):
                    continue
                if len(row) < 2:
                    raise ValueError(f"{source}, line {line}: expected `path,label`, got {row}.")
                rows.append((line, row[0].strip(), row[1].strip()))
        if rows and rows[0][1].lower() == "path":  # header
            rows = rows[1:]
        if all(_is_int(label) for _, _, label in rows):
            self.class_names = list(class_names) if class_names is not None else None
            labels = [int(label) for _, _, label in rows]
            limit = len(self.class_names) if self.class_names is not None else None
            for (line, _, text), label in zip(rows, labels):
                if label < 0 or (limit is not None and label >= limit):
                    expected = f"[0, {limit})" if limit is not None else ">= 0"
                    raise ValueError(
                        f"{source}, line {line}: label {text} is not a class index {expected}"
                        + (f" (class_names has {limit})" if limit is not None else "")
                        + ". Fix the row, or give labels as class names."
                    )
        else:
            names = (sorted({label for _, _, label in rows}) if class_names is None
                     else list(class_names))
            self.class_names = names
            labels = []
            for line, _, label in rows:
                if label not in names:
                    raise ValueError(
                        f"{source}, line {line}: label {label!r} is not one of class_names "
                        f"{names}. Fix the row or pass the full `class_names`."
                    )
                labels.append(names.index(label))
        paths = [p if os.path.isabs(p) else os.path.join(base, p) for _, p, _ in rows]
        return paths, labels

    def _make_order(self):
        order = np.arange(len(self.paths))
        if self.shuffle:
            np.random.default_rng((self.seed, self._epoch)).shuffle(order)
        if self.num_shards > 1:
            usable = len(order) // self.num_shards * self.num_shards
            order = order[:usable][self.shard_index::self.num_shards]
        return order

    def set_epoch(self, epoch):
        """Moves to epoch `epoch` (0-based): its order and draws."""
        if int(epoch) != self._epoch:
            self._epoch = int(epoch)
            self._order = self._make_order()

    def __len__(self):
        return int(np.ceil(len(self._order) / self.batch_size))

    def load_clip(self, index, rng):
        """Decodes and samples video `index`; raises `VideoDecodeError`."""
        path = self.paths[index]
        frames = decode_video(
            path,
            shorter_side=self.sampler.resize_size,
            allow_truncated=self.allow_truncated,
        )
        return self.sampler(frames, rng)

    def __getitem__(self, batch_index):
        if not 0 <= batch_index < len(self):
            raise IndexError(f"Batch {batch_index} out of range for {len(self)} batches.")
        key = (self.seed, self._epoch, batch_index)
        if self.num_shards > 1:
            key = (self.seed, self._epoch, self.shard_index, batch_index)
        rng = np.random.default_rng(key)
        positions = range(
            batch_index * self.batch_size,
            min((batch_index + 1) * self.batch_size, len(self._order)),
        )
        clips, labels = [], []
        for position in positions:
            clip, label = self._first_readable(position, rng)
            clips.append(clip)
            labels.append(label)
        if not self.labeled:
            return np.stack(clips)
        return np.stack(clips), np.asarray(labels, "int32")

    def _first_readable(self, position, rng):
        # A bad file is replaced by the next readable one in the epoch order.
        for offset in range(len(self._order)):
            index = self._order[(position + offset) % len(self._order)]
            path = self.paths[index]
            if path in self.statistics.skipped_files:
                continue
            try:
                clip = self.load_clip(index, rng)
                if not np.isfinite(clip).all():
                    raise VideoDecodeError(f"{path}: the sampled clip holds NaN or Inf values")
            except VideoDecodeError as error:
                self.statistics.record_failure(path, str(error))
                continue
            self.statistics.record_success()
            if offset:
                self.statistics.record_replacement(path)
            return clip, self.labels[index]
        raise RuntimeError(
            f"None of the {len(self.paths)} videos could be decoded: "
            f"{self.statistics.as_dict()['skipped_files']}"
        )

    def on_epoch_end(self):
        self.set_epoch(self._epoch + 1)

    def as_tf_dataset(self, num_parallel_calls=None):
        """The same batches as a `tf.data.Dataset` (decoding in parallel).

        Every iteration of the returned dataset is one epoch, and each new
        iteration after the first starts the next epoch (new order, new
        augmentation draws), as `fit` does for the `PyDataset` itself via
        `on_epoch_end`; `fit` starts one iteration per epoch.
        """
        import tensorflow as tf

        clip_shape = (None,) + self.sampler.output_shape
        self._tf_iterations = 0

        def start_epoch():
            if self._tf_iterations > 0:
                self.on_epoch_end()
            self._tf_iterations += 1
            return np.int64(0)

        def batches(_):
            # The py function runs once at the start of every iteration;
            # its (zero) result feeds the indices so that it runs first.
            offset = tf.numpy_function(start_epoch, [], tf.int64, stateful=True)
            return tf.data.Dataset.range(len(self)).map(lambda i: i + offset)

        def load(i):
            if not self.labeled:
                clips = tf.numpy_function(lambda j: self[int(j)], [i], tf.float32, stateful=True)
                clips.set_shape(clip_shape)
                return clips
            clips, labels = tf.numpy_function(
                lambda j: self[int(j)], [i], [tf.float32, tf.int32], stateful=True
            )
            clips.set_shape(clip_shape)
            labels.set_shape((None,))
            return clips, labels

        ds = tf.data.Dataset.from_tensors(np.int64(0)).flat_map(batches)
        ds = ds.map(load, num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE, deterministic=True)
        return ds.prefetch(tf.data.AUTOTUNE)


def _is_int(text):
    try:
        int(text)
    except ValueError:
        return False
    return True
