from keras import ops


def masked_reconstruction_loss(predictions, targets):
    """Mean squared error between predicted and target tokens.

    The loss of masked prediction with regression targets (MAE's pixels,
    LayerLock's frozen-layer activations): `predictions` and `targets` hold
    only the predicted (masked) positions, so every entry counts.

    Args:
        predictions: `(B, N, C)` tensor.
        targets: `(B, N, C)` tensor; no gradient flows into it by design of
            the callers (they pass stop-gradient targets).

    Returns:
        Scalar float32 tensor.

    Example:
    ```python
    loss = masked_reconstruction_loss(model_out["predictions"],
                                      model_out["targets"])
    ```
    """
    predictions = ops.cast(predictions, "float32")
    targets = ops.cast(targets, "float32")
    return ops.mean(ops.square(predictions - targets))
