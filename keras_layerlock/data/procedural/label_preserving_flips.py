"""Flips of procedural clips that keep every task's label meaningful."""

import keras
import numpy as np

from keras_layerlock.data.procedural.scene import MOTION_CLASSES

TASKS = ("motion", "appearance", "depth")


def _swap(pairs):
    mapping = np.arange(len(MOTION_CLASSES))
    for a, b in pairs:
        i, j = MOTION_CLASSES.index(a), MOTION_CLASSES.index(b)
        mapping[i], mapping[j] = j, i
    return mapping


# A mirrored clip shows the mirrored motion; a clip played backwards the
# opposite one. Vertical flips are left out: they put the floor on top, a
# scene the suite never renders.
MOTION_UNDER_HORIZONTAL_FLIP = _swap(
    [("move_left", "move_right"), ("rotate_clockwise", "rotate_counterclockwise")])
MOTION_UNDER_TIME_REVERSAL = _swap(
    [("move_left", "move_right"), ("move_up", "move_down"), ("approach", "recede"),
     ("rotate_clockwise", "rotate_counterclockwise")])


def flip_clip(video, target, task, horizontal=False, reverse=False):
    """One clip mirrored and/or played backwards, with its target to match.

    Appearance (the scene's pattern family) does not change; a motion label
    is mapped to the motion the flipped clip shows; a depth target is
    flipped with the video.

    Args:
        video: `(T, H, W, C)` array.
        target: int class (motion, appearance) or `(T, H, W)` depth.
        task: `"motion"`, `"appearance"` or `"depth"`.
        horizontal: bool. Mirror left to right.
        reverse: bool. Play the frames in reverse order.

    Returns:
        `(video, target)`.

    Example:
    ```python
    from keras_layerlock.data.procedural.label_preserving_flips import flip_clip
    suite = kl.data.ProceduralVideoSuite(num_frames=8, image_size=32)
    clip = suite.generate("train", 0)
    video, label = flip_clip(clip["video"], clip["motion"], "motion", horizontal=True)
    ```
    """
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}; received {task!r}.")
    video = np.asarray(video)
    if video.ndim != 4:
        raise ValueError(
            f"`video` must be one clip `(T, H, W, C)`; received shape {video.shape}.")
    if task == "depth":
        target = np.asarray(target)
        if target.shape != video.shape[:3]:
            raise ValueError(
                f"A depth target must be `(T, H, W)` = {video.shape[:3]}; received "
                f"shape {target.shape}.")
    if horizontal:
        video = video[:, :, ::-1]
        if task == "depth":
            target = target[:, :, ::-1]
        elif task == "motion":
            target = MOTION_UNDER_HORIZONTAL_FLIP[int(target)]
    if reverse:
        video = video[::-1]
        if task == "depth":
            target = target[::-1]
        elif task == "motion":
            target = MOTION_UNDER_TIME_REVERSAL[int(target)]
    return video, target


class LabelPreservingFlips(keras.utils.PyDataset):
    """Batches of procedural clips, each randomly mirrored and/or reversed.

    The augmentation of the supervised ceiling (`supervised_ceiling(...,
    augment=True)`): a small ViT trained end to end on a few thousand clips
    memorises them; the four variants of every clip (`flip_clip`) give it
    four times the motions to learn from without rendering more. A new
    random choice per clip and epoch, reproducible from `seed`.

    Args:
        videos: `(N, T, H, W, C)` float array.
        targets: `(N,)` labels or `(N, T, H, W)` depth.
        task: `"motion"`, `"appearance"` or `"depth"`.
        batch_size: int.
        seed: int.
        **kwargs: `keras.utils.PyDataset` arguments (`workers`, ...).

    Example:
    ```python
    data = LabelPreservingFlips(videos, labels, "motion", batch_size=32)
    model.fit(data, epochs=10)
    ```
    """

    def __init__(self, videos, targets, task, batch_size=32, seed=0, **kwargs):
        super().__init__(**kwargs)
        if task not in TASKS:
            raise ValueError(f"`task` must be one of {TASKS}; received {task!r}.")
        if len(videos) != len(targets):
            raise ValueError(
                f"`videos` and `targets` must have one entry per clip; received "
                f"{len(videos)} videos and {len(targets)} targets.")
        if int(batch_size) < 1 or int(batch_size) > len(videos):
            raise ValueError(
                f"`batch_size` must be between 1 and the number of clips ({len(videos)}); "
                f"received {batch_size}.")
        self.videos, self.targets, self.task = videos, np.asarray(targets), task
        self.batch_size, self.seed = int(batch_size), int(seed)
        self._epoch = 0
        self._order = self._new_order()

    def _new_order(self):
        rng = np.random.default_rng([self.seed, self._epoch])
        return rng.permutation(len(self.videos)), rng.random((len(self.videos), 2)) < 0.5

    def __len__(self):
        return len(self.videos) // self.batch_size

    def __getitem__(self, index):
        order, flips = self._order
        ids = order[index * self.batch_size:(index + 1) * self.batch_size]
        videos, targets = [], []
        for i in ids:
            video, target = flip_clip(self.videos[i], self.targets[i], self.task,
                                      horizontal=flips[i, 0], reverse=flips[i, 1])
            videos.append(video)
            targets.append(target)
        return (np.ascontiguousarray(np.stack(videos)),
                np.ascontiguousarray(np.stack(targets)))

    def on_epoch_end(self):
        self._epoch += 1
        self._order = self._new_order()
