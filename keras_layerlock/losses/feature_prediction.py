from keras import ops

FEATURE_PREDICTION_LOSSES = ("l1", "l2")


def feature_prediction_loss(predictions, targets, valid, loss="l1"):
    """V-JEPA's feature-prediction loss over the valid target tokens.

    Each token's error is averaged over channels, then tokens are averaged
    with `valid` as weights (multiblock masks hide a different number of
    tokens per clip, padded to a static count).

    Args:
        predictions: `(B, N, C)` tensor.
        targets: `(B, N, C)` tensor (the teacher's normalised features).
        valid: bool `(B, N)`, False on padding.
        loss: `"l1"` (V-JEPA) or `"l2"`.

    Returns:
        Scalar float32 tensor.

    Example:
    ```python
    loss = feature_prediction_loss(pred, target, valid, loss="l1")
    ```
    """
    if loss not in FEATURE_PREDICTION_LOSSES:
        raise ValueError(
            f"`loss` must be one of {FEATURE_PREDICTION_LOSSES}; received {loss!r}."
        )
    error = ops.cast(predictions, "float32") - ops.cast(targets, "float32")
    error = ops.abs(error) if loss == "l1" else ops.square(error)
    weight = ops.cast(valid, "float32")
    per_token = ops.mean(error, axis=-1)
    return ops.sum(per_token * weight) / ops.maximum(ops.sum(weight), 1.0)
