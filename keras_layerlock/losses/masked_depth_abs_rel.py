import keras
from keras import ops

from keras_layerlock.losses.masked_depth_l2 import check_depth_shapes
from keras_layerlock.losses.masked_depth_l2 import depth_valid


def relative_depth_error(y_true, y_pred):
    """`(|d* - d| / d, valid)`: the relative error per pixel (0 where the
    target lies outside (0.001, 10) m) and the float32 validity mask."""
    check_depth_shapes(y_true, y_pred)
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    valid = depth_valid(y_true)
    safe = ops.where(valid, y_true, 1.0)
    relative = ops.where(valid, ops.abs(y_pred - y_true) / safe, 0.0)
    return relative, ops.cast(valid, "float32")


@keras.saving.register_keras_serializable(package="keras_layerlock")
class MaskedDepthAbsRel(keras.losses.Loss):
    """Mean absolute relative depth error, |d* - d| / d, over valid pixels.

    The `AbsRel` metric as a loss. L2 in metres (`MaskedDepthL2`, the 4DS
    readout loss) is ruled by the far pixels, while AbsRel is ruled by the
    near ones; training on AbsRel itself is what an upper bound on AbsRel
    (the suite's supervised ceiling) should do. Targets outside (0.001, 10)
    m are masked out, as in the 4DS ScanNet protocol.

    Args:
        name: str.

    Example:
    ```python
    model.compile(loss=MaskedDepthAbsRel(), metrics=[AbsRel()])
    ```
    """

    def __init__(self, name="masked_depth_abs_rel", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        relative, valid = relative_depth_error(y_true, y_pred)
        axes = tuple(range(1, len(relative.shape)))
        return ops.sum(relative, axis=axes) / ops.maximum(ops.sum(valid, axis=axes), 1.0)
