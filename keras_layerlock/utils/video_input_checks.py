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
    if videos.ndim < 2 or videos.size == 0:
        return
    per_clip = videos.reshape(len(videos), -1)
    bad = np.flatnonzero(~np.isfinite(per_clip).all(axis=1))
    if len(bad):
        shown = ", ".join(str(i) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise ValueError(
            f"`{name}` holds NaN or Inf values in {len(bad)} of {len(videos)} clips "
            f"(indices {shown}). One non-finite pixel turns every weight non-finite in "
            "training. Drop or repair those clips."
        )
    top = float(per_clip.max())
    if top > 1.0 and np.array_equal(per_clip, np.round(per_clip)):
        raise ValueError(
            f"`{name}` holds only whole numbers up to {top:g}: frames in 0-255 cast to float "
            f"without scaling. {_FIX}"
        )
