import keras
from keras import ops

# ScanNet-style validity range of depth targets, in metres (4DS).
DEPTH_VALID_MIN = 0.001
DEPTH_VALID_MAX = 10.0


def depth_prior(depths):
    """Statistics of valid training depths (NumPy `(n, T, H, W)` in metres).

    Returns:
        dict `per_pixel` (each pixel's mean valid depth, the overall mean
        where a pixel is never valid), `mean` and `std` of all valid depths.

    Raises:
        ValueError: when no depth lies inside (0.001, 10) m.
    """
    import numpy as np

    depths = np.asarray(depths)
    if not np.issubdtype(depths.dtype, np.floating):
        depths = depths.astype("float64")
    mask = (depths > DEPTH_VALID_MIN) & (depths < DEPTH_VALID_MAX)
    if not mask.any():
        raise ValueError(
            f"No valid depth target (inside ({DEPTH_VALID_MIN}, {DEPTH_VALID_MAX}) m); "
            f"received depths in [{depths.min()}, {depths.max()}]."
        )
    # Sums in float64 over the input's own precision (no float64 copy of
    # the whole set: this runs once per depth readout).
    masked = np.where(mask, depths, depths.dtype.type(0))
    count = int(mask.sum())
    mean = masked.sum(dtype="float64") / count
    deviation = masked - depths.dtype.type(mean)
    deviation *= mask
    variance = np.square(deviation).sum(dtype="float64") / count
    counts = mask.sum(axis=0)
    per_pixel = masked.sum(axis=0, dtype="float64") / np.maximum(counts, 1)
    return {"per_pixel": np.where(counts > 0, per_pixel, mean),
            "mean": float(mean), "std": float(np.sqrt(variance))}


def check_depth_shapes(y_true, y_pred):
    """Raises unless depth targets and predictions have the same shape.

    Shapes are static, so this runs once per trace on every backend; a
    `(B, 1, H, W)` target would otherwise be broadcast over the frames.
    """
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if len(true_shape) != len(pred_shape) or any(
        t is not None and p is not None and t != p for t, p in zip(true_shape, pred_shape)
    ):
        raise ValueError(
            f"Depth targets of shape {true_shape} do not match the predicted depth "
            f"{pred_shape} (batch, frames, height, width). Targets are never broadcast: give "
            "one depth map per predicted frame, or build the estimator for the targets' "
            "depth_shape."
        )


def depth_valid(depth):
    """Mask of depths inside (0.001, 10) m: targets outside are ignored."""
    return ops.logical_and(depth > DEPTH_VALID_MIN, depth < DEPTH_VALID_MAX)


@keras.saving.register_keras_serializable(package="keras_layerlock")
class MaskedDepthL2(keras.losses.Loss):
    """Mean squared depth error over valid target pixels (4DS depth readout).

    Args:
        name: str.

    Example:
    ```python
    model.compile(loss=MaskedDepthL2(), metrics=[AbsRel()])
    ```
    """

    def __init__(self, name="masked_depth_l2", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        check_depth_shapes(y_true, y_pred)
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        valid = ops.cast(depth_valid(y_true), "float32")
        axes = tuple(range(1, len(y_true.shape)))
        error = ops.sum(ops.square(y_pred - y_true) * valid, axis=axes)
        return error / ops.maximum(ops.sum(valid, axis=axes), 1.0)
