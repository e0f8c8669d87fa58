import keras
import numpy as np


class ArrayClipDataset(keras.utils.PyDataset):
    """Batches of clips from in-memory arrays, for `fit` on any backend.

    Videos are kept as uint8 and converted to float32 in [0, 1] batch by
    batch, so a split of thousands of clips stays small in memory. The order
    is reshuffled every epoch from `seed` (deterministic across runs).

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
        if int(batch_size) <= 0:
            raise ValueError(f"`batch_size` must be positive; received {batch_size}.")
        self.videos = videos
        self.targets = targets
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(videos))
        if self.shuffle:
            self._rng.shuffle(self._order)

    def __len__(self):
        n = len(self.videos) / self.batch_size
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
        if self.shuffle:
            self._rng.shuffle(self._order)
