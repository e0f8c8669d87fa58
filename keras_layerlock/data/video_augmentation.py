"""Clip sampling and augmentation of decoded videos (NumPy + OpenCV).

The protocols follow the 4DS evaluation suite (Carreira et al., 2024) as
used by LayerLock (Erdogan et al., 2025, supplementary A.4):

- Training clips: `num_frames` frames every `stride` frames from a random
  start; shorter side resized to `min_resize_factor * crop_size` (4DS:
  1.15; SSv2 readouts: 239 for a 224 crop), random crop, horizontal flip.
- SSv2 colour augmentation with probability 0.8: brightness delta in
  [-0.125, 0.125] (added), saturation and contrast factors in [0.6, 1.4]
  (multiplied), hue delta in [-0.2, 0.2] (added, in fractions of the hue
  circle, as `tf.image.adjust_hue`); greyscale with probability 0.1. The
  same draw applies to every frame of a clip.
- Test clips: central temporal window and central crop, or `num_clips`
  evenly spaced windows (Kinetics: 7) whose predictions are averaged.
"""

import math

import cv2
import numpy as np


def clip_span(num_frames, stride):
    """Frames covered by a clip of `num_frames` frames every `stride`."""
    return (int(num_frames) - 1) * int(stride) + 1


def sample_clip_starts(num_video_frames, num_frames, stride, mode, rng=None, num_clips=1):
    """Start frames of the clip(s) to take from a video.

    Args:
        num_video_frames: int, frames in the decoded video.
        num_frames, stride: clip length and frame step.
        mode: `"random"` (one clip, uniform start), `"center"` (one clip in
            the middle) or `"uniform"` (`num_clips` evenly spaced clips from
            the first possible start to the last).
        rng: `numpy.random.Generator` for `"random"`.
        num_clips: int, for `"uniform"`.

    Returns:
        int array of starts. Videos shorter than a clip start at 0 (and the
        clip repeats the last frame, see `clip_indices`).
    """
    last = max(0, int(num_video_frames) - clip_span(num_frames, stride))
    if mode == "random":
        return np.array([rng.integers(0, last + 1)])
    if mode == "center":
        return np.array([last // 2])
    if mode == "uniform":
        return np.round(np.linspace(0, last, int(num_clips))).astype(int)
    raise ValueError(
        f"Unknown clip sampling mode {mode!r}; expected 'random', 'center' or 'uniform'."
    )


def clip_indices(start, num_frames, stride, num_video_frames):
    """Frame indices of one clip; past the end, the last frame repeats."""
    idx = int(start) + np.arange(int(num_frames)) * int(stride)
    return np.minimum(idx, int(num_video_frames) - 1)


def resize_shorter_side(frames, size):
    """Resizes `(T, H, W, C)` frames so that the shorter side is `size`."""
    _, h, w, _ = frames.shape
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    if (new_h, new_w) == (h, w):
        return frames
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return np.stack(
        [cv2.resize(f, (new_w, new_h), interpolation=interpolation) for f in frames]
    )


def crop(frames, crop_size, rng=None):
    """Random (with `rng`) or central spatial crop of `(T, H, W, C)` frames."""
    ch, cw = crop_size
    _, h, w, _ = frames.shape
    if h < ch or w < cw:
        raise ValueError(
            f"Cannot crop {crop_size} from frames of size {(h, w)}; resize first."
        )
    if rng is None:
        top, left = (h - ch) // 2, (w - cw) // 2
    else:
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    return frames[:, top : top + ch, left : left + cw]


def colour_augment(
    frames,
    rng,
    brightness=0.125,
    saturation=(0.6, 1.4),
    contrast=(0.6, 1.4),
    hue=0.2,
):
    """SSv2 colour jitter on float32 RGB `(T, H, W, 3)` in [0, 1].

    One draw per clip; applied in the order brightness, saturation,
    contrast, hue (the papers do not fix an order), clipping to [0, 1].
    """
    x = frames + rng.uniform(-brightness, brightness)
    x = np.clip(x, 0.0, 1.0)
    grey = _luma(x)[..., None]
    x = np.clip(grey + (x - grey) * rng.uniform(*saturation), 0.0, 1.0)
    mean = _luma(x).mean()
    x = np.clip(mean + (x - mean) * rng.uniform(*contrast), 0.0, 1.0)
    delta = rng.uniform(-hue, hue)
    if delta:
        t, h, w, _ = x.shape
        hsv = cv2.cvtColor(x.reshape(t * h, w, 3).astype("float32"), cv2.COLOR_RGB2HSV)
        hsv[..., 0] = np.mod(hsv[..., 0] + 360.0 * delta, 360.0)
        x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).reshape(t, h, w, 3)
    return np.clip(x, 0.0, 1.0).astype("float32")


def greyscale(frames):
    """Luma replicated over the three channels."""
    return np.repeat(_luma(frames)[..., None], 3, axis=-1).astype("float32")


def _luma(x):
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114


class VideoClipSampler:
    """Turns a decoded video into model-ready clip(s).

    Args:
        num_frames: int. Frames per clip; defaults to 16.
        stride: int. Step between frames; defaults to 2.
        crop_size: int or `(height, width)`; defaults to 224.
        training: bool. Random window, crop, flip and (if enabled) colour
            augmentation when True; central window(s) and crop when False.
        min_resize_factor: float. Shorter side is resized to
            `ceil(min_resize_factor * crop)` before cropping; defaults to
            1.15 (4DS). Use `239 / 224` for the SSv2 readout protocol.
        flip: bool. Random horizontal flip in training; defaults to True.
        colour_augmentation_probability: float; 0.8 for the SSv2 protocol,
            defaults to 0 (off).
        greyscale_probability: float; 0.1 for SSv2, defaults to 0.
        num_test_clips: int. Evenly spaced clips at test time (Kinetics: 7);
            with more than one, `__call__` returns `(num_clips, T, H, W, 3)`.
        seed: int or None. Seed of the augmentation draws.

    Example:
    ```python
    sampler = VideoClipSampler(num_frames=16, stride=2, crop_size=224,
                               training=True,
                               colour_augmentation_probability=0.8,
                               greyscale_probability=0.1)
    clip = sampler(frames)  # frames: uint8 (T, H, W, 3) -> float32 clip
    ```
    """

    def __init__(
        self,
        num_frames=16,
        stride=2,
        crop_size=224,
        training=False,
        min_resize_factor=1.15,
        flip=True,
        colour_augmentation_probability=0.0,
        greyscale_probability=0.0,
        num_test_clips=1,
        seed=None,
    ):
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        self.crop_size = tuple(int(c) for c in crop_size)
        if int(num_frames) <= 0 or int(stride) <= 0 or min(self.crop_size) <= 0:
            raise ValueError(
                "`num_frames`, `stride` and `crop_size` must be positive. "
                f"Received: num_frames={num_frames}, stride={stride}, "
                f"crop_size={crop_size}"
            )
        if min_resize_factor < 1.0:
            raise ValueError(
                "`min_resize_factor` must be at least 1 (the resized frame "
                f"must contain the crop). Received: {min_resize_factor}"
            )
        if int(num_test_clips) <= 0:
            raise ValueError(f"`num_test_clips` must be positive; received {num_test_clips}.")
        self.num_frames = int(num_frames)
        self.stride = int(stride)
        self.training = bool(training)
        self.min_resize_factor = float(min_resize_factor)
        self.flip = bool(flip)
        self.colour_augmentation_probability = float(colour_augmentation_probability)
        self.greyscale_probability = float(greyscale_probability)
        self.num_test_clips = int(num_test_clips)
        self.rng = np.random.default_rng(seed)

    @property
    def resize_size(self):
        return math.ceil(self.min_resize_factor * max(self.crop_size) - 1e-6)

    @property
    def output_shape(self):
        shape = (self.num_frames,) + self.crop_size + (3,)
        if not self.training and self.num_test_clips > 1:
            shape = (self.num_test_clips,) + shape
        return shape

    def starts(self, num_video_frames, rng=None):
        if self.training:
            return sample_clip_starts(
                num_video_frames, self.num_frames, self.stride, "random", rng or self.rng
            )
        if self.num_test_clips == 1:
            return sample_clip_starts(num_video_frames, self.num_frames, self.stride, "center")
        return sample_clip_starts(
            num_video_frames, self.num_frames, self.stride, "uniform",
            num_clips=self.num_test_clips,
        )

    def __call__(self, frames, rng=None):
        """uint8 or float `(T, H, W, 3)` frames -> float32 clip(s) in [0, 1]."""
        rng = rng or self.rng
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
            raise ValueError(
                "Expected decoded frames of shape (num_frames, height, width, 3) "
                f"with at least one frame; received shape {frames.shape}."
            )
        clips = []
        for start in self.starts(len(frames), rng):
            idx = clip_indices(start, self.num_frames, self.stride, len(frames))
            clips.append(self._spatial(frames[idx], rng))
        return clips[0] if len(clips) == 1 else np.stack(clips)

    def _spatial(self, clip, rng):
        clip = resize_shorter_side(clip, self.resize_size)
        clip = crop(clip, self.crop_size, rng if self.training else None)
        if clip.dtype == np.uint8:
            clip = clip.astype("float32") / 255.0
        else:
            clip = clip.astype("float32")
        if not self.training:
            return clip
        if self.flip and rng.random() < 0.5:
            clip = clip[:, :, ::-1]
        if rng.random() < self.colour_augmentation_probability:
            clip = colour_augment(clip, rng)
        if rng.random() < self.greyscale_probability:
            clip = greyscale(clip)
        return np.ascontiguousarray(clip)
