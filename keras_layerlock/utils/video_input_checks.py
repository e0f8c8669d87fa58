"""The input contract of every model that takes videos.

Videos (and images) enter the library's models as floats in [0, 1],
channels last. An integer video (`uint8` frames straight from a decoder) is
refused rather than scaled: an `int32` array could hold 0-255 pixels or
0-1 masks, and guessing wrong trains silently on inputs 255 times too
large or too small. The library's own pipelines (`kl.data`) already
deliver float32 in [0, 1].

Two levels of checks:

- `check_video_dtype`: inside a model's `call` (any backend, traced or
  not): the dtype, which is static.
- `check_video_array`: where a NumPy array enters (`fit`, `adapt`): the
  dtype, non-finite values (naming the clips) and float arrays that hold
  only whole numbers above 1 (an `astype("float32")` of 0-255 frames).
"""

import keras
import numpy as np

_FIX = ("Pass float videos in [0, 1]: `videos.astype('float32') / 255` for 0-255 frames "
        "(the `keras_layerlock.data` pipelines already deliver them).")


def check_video_dtype(inputs, name: str = "videos") -> None:
    """Raises unless `inputs` (a tensor or array) has a floating dtype.

    Args:
        inputs: the video batch (any backend's tensor, a NumPy array or a
            `KerasTensor`).
        name: str. What the input is called in the message.

    Example:
    ```python
    check_video_dtype(np.zeros((1, 4, 16, 16, 3), "float32"))  # passes
    check_video_dtype(np.zeros((1, 4, 16, 16, 3), "uint8"))    # ValueError
    ```
    """
    dtype = keras.backend.standardize_dtype(inputs.dtype)
    if not dtype.startswith(("float", "bfloat")):
        raise ValueError(
            f"`{name}` must be a floating tensor in [0, 1]; received dtype {dtype} "
            f"(shape {tuple(inputs.shape)}). Integer videos are not scaled for you. {_FIX}"
        )


def check_video_array(videos, name: str = "videos") -> None:
    """Checks a NumPy video array before training or adapting on it.

    Does nothing for inputs that are not NumPy arrays (datasets, tensors):
    the library's pipelines check and count their clips themselves, and a
    model's `call` checks the dtype of every batch.

    Args:
        videos: the array.
        name: str. What the input is called in the message.

    Example:
    ```python
    check_video_array(np.random.rand(2, 4, 16, 16, 3).astype("float32"))
    ```
    """
    if not isinstance(videos, np.ndarray):
        return
    check_video_dtype(videos, name)
    bad = non_finite_clips(videos)
    if len(bad):
        raise ValueError(
            f"`{name}` holds NaN or Inf values in {len(bad)} of {len(videos)} clips "
            f"(indices {format_indices(bad)}). One non-finite pixel turns every weight non-finite in "
            "training. Drop or repair those clips."
        )
    check_video_scale(videos, name)


def non_finite_clips(videos) -> np.ndarray:
    """Indices of the clips (first axis) of a NumPy array holding NaN or Inf."""
    if videos.ndim < 2 or videos.size == 0 or not np.issubdtype(videos.dtype, np.floating):
        return np.zeros((0,), "int64")
    return np.flatnonzero(~np.isfinite(videos.reshape(len(videos), -1)).all(axis=1))


def format_indices(indices, limit: int = 5) -> str:
    """`"1, 4, 9, ..."`: the first `limit` indices, for error messages."""
    return ", ".join(str(i) for i in indices[:limit]) + (", ..." if len(indices) > limit else "")


def check_video_scale(videos, name: str = "videos") -> None:
    """Raises if a float NumPy array holds only whole numbers above 1 (frames
    in 0-255 cast to float without scaling). Expects finite values: its
    callers drop or refuse the clips `non_finite_clips` names first."""
    if videos.size == 0 or not np.issubdtype(videos.dtype, np.floating):
        return
    top = float(videos.max())
    if top > 1.0 and np.array_equal(videos, np.round(videos)):
        raise ValueError(
            f"`{name}` holds only whole numbers up to {top:g}: frames in 0-255 cast to float "
            f"without scaling. {_FIX}"
        )
