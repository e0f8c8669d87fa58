import warnings

import keras
import numpy as np

from keras_layerlock.utils.video_input_checks import check_video_dtype
from keras_layerlock.utils.video_input_checks import check_video_scale
from keras_layerlock.utils.video_input_checks import format_indices
from keras_layerlock.utils.video_input_checks import non_finite_clips


class ArrayClipDataset(keras.utils.PyDataset):
    """Batches of clips from in-memory arrays, for `fit` on any backend.

    Videos are kept as uint8 and converted to float32 in [0, 1] batch by
    batch, so a split of thousands of clips stays small in memory. Float
    videos must already be in [0, 1]; a clip holding NaN or Inf is left out
    with a warning and counted in `statistics`, as the file pipelines skip
    a corrupt video.

    The order of epoch `e` is a function of `(seed, e)` alone, so a run
    resumed from a checkpoint (`keras.callbacks.BackupAndRestore`) sees the
    same batches as one that never stopped: `set_epoch` (called by the
    `DatasetEpochSync` callback, which the library's models add to their
    `fit`) moves the dataset to the epoch `fit` resumes at. The dataset
    shuffles itself, so those `fit`s also turn Keras' own batch shuffling
    off for it (with plain `keras.Model.fit`, pass `shuffle=False` and
    `callbacks=[DatasetEpochSync(data)]`).

    Args:
        videos: uint8 array `(N, T, H, W, 3)` (or float in [0, 1]).
        targets: array with first axis `N` (labels or dense targets).
        batch_size: int.
        shuffle: bool; defaults to True.
        seed: int. Shuffling seed.
        drop_remainder: bool. Drop the last partial batch; defaults to False.
        **kwargs: `keras.utils.PyDataset` arguments (`workers`,
            `use_multiprocessing`, `max_queue_size`).

    Example:
    ```python
    data = ArrayClipDataset(videos, labels, batch_size=16)
    model.fit(data, epochs=2)
    print(data.statistics)  # clips kept and skipped
    ```
    """

    def __init__(
        self,
        videos,
        targets,
        batch_size,
        shuffle=True,
        seed=0,
        drop_remainder=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if len(videos) != len(targets):
            raise ValueError(
                f"`videos` and `targets` must have the same length; received "
                f"{len(videos)} and {len(targets)}."
            )
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size <= 0:
            raise ValueError(f"`batch_size` must be a positive int; received {batch_size!r}.")
        videos = np.asarray(videos)
        if videos.dtype != np.uint8:
            check_video_dtype(videos)
        skipped = non_finite_clips(videos)
        kept = np.setdiff1d(np.arange(len(videos)), skipped)
        if len(kept) == 0:
            raise ValueError(f"All {len(videos)} clips hold NaN or Inf values; nothing to train on.")
        if videos.dtype != np.uint8:
            check_video_scale(videos if not len(skipped) else videos[kept])
        if len(skipped):
            warnings.warn(
                f"Skipping {len(skipped)} of {len(videos)} clips that hold NaN or Inf values "
                f"(indices {format_indices(skipped)}); `statistics` lists them.",
                stacklevel=2,
            )
        self.videos = videos
        self.targets = targets
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)
        self.seed = int(seed)
        self.statistics = {
            "clips": len(videos),
            "kept": len(kept),
            "skipped": len(skipped),
            "skipped_indices": [int(i) for i in skipped],
        }
        self._kept = kept
        self.epoch = 0
        self._order = self._make_order()

    def _make_order(self):
        order = self._kept.copy()
        if self.shuffle:
            np.random.default_rng((self.seed, self.epoch)).shuffle(order)
        return order

    def set_epoch(self, epoch):
        """Moves to epoch `epoch` (0-based): its order, as if the epochs
        before it had run."""
        if int(epoch) != self.epoch:
            self.epoch = int(epoch)
            self._order = self._make_order()

    def __len__(self):
        n = len(self._kept) / self.batch_size
        return int(np.floor(n) if self.drop_remainder else np.ceil(n))

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"Batch {index} out of range for {len(self)} batches.")
        idx = np.sort(self._order[index * self.batch_size : (index + 1) * self.batch_size])
        videos = self.videos[idx]
        if videos.dtype == np.uint8:
            videos = videos.astype("float32") / 255.0
        return videos, self.targets[idx]

    def on_epoch_end(self):
        self.set_epoch(self.epoch + 1)
