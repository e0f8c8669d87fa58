from keras import ops

from keras_layerlock.utils.l2_normalize import l2_normalize


def negative_cosine_loss(predictions, targets):
    """SimSiam's loss `2 (1 - p . z)`, with a stop-gradient on the targets.

    Chen and He, "Exploring Simple Siamese Representation Learning" (2021):
    `p` is the predictor's output for one view and `z` the projector's
    output for the other, both L2-normalised; no gradient flows through
    `z`. The mean over the batch of `2 (1 - cos(p, z))` lies in [0, 4]
    (`||p - z||^2` for unit vectors). SimSiam symmetrises it over the two
    views: average two calls.

    Args:
        predictions: `(B, D)` predictor outputs.
        targets: `(B, D)` projector outputs of the other view.

    Returns:
        float32 scalar.

    Example:
    ```python
    loss = 0.5 * (negative_cosine_loss(p1, z2) + negative_cosine_loss(p2, z1))
    ```
    """
    if len(predictions.shape) != 2 or tuple(predictions.shape) != tuple(targets.shape):
        raise ValueError(
            "`predictions` and `targets` must be 2-D `(batch, dim)` of the same shape; "
            f"received {tuple(predictions.shape)} and {tuple(targets.shape)}."
        )
    p = l2_normalize(ops.cast(predictions, "float32"))
    z = l2_normalize(ops.stop_gradient(ops.cast(targets, "float32")))
    return ops.mean(2.0 * (1.0 - ops.sum(p * z, axis=-1)))
