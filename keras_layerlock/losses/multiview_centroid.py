from keras import ops

from keras_layerlock.utils.l2_normalize import l2_normalize


def multiview_centroid_loss(predictions, targets):
    """MSBReg's multiview centroid loss (BYOL's loss for two views).

    MSBReg ("An Embedding-Dynamic Approach to Self-supervised Learning"):
    each view's online prediction `q_i` (L2-normalised) is pulled towards
    the normalised centroid of the other views' target embeddings,
    `c_i = normalize(mean_{j != i} normalize(z_j))`, in BYOL's cosine form
    `2 - 2 <q_i, c_i>`, averaged over views and examples. No gradient flows
    into the targets. With two views it is BYOL's symmetrised loss.

    Args:
        predictions: `(K, B, D)` online predictions of K views.
        targets: `(K, B, D)` target-network embeddings of the same views.

    Returns:
        float32 scalar.

    Example:
    ```python
    loss = multiview_centroid_loss(keras.random.normal((4, 8, 16)),
                                   keras.random.normal((4, 8, 16)))
    ```
    """
    if len(predictions.shape) != 3 or tuple(predictions.shape) != tuple(targets.shape):
        raise ValueError(
            "`predictions` and `targets` must be `(num_views, batch, dim)` of the same shape; "
            f"received {tuple(predictions.shape)} and {tuple(targets.shape)}."
        )
    num_views = predictions.shape[0]
    if num_views is None or num_views < 2:
        raise ValueError(f"The centroid loss needs at least 2 views; received {num_views}.")
    q = l2_normalize(ops.cast(predictions, "float32"))
    z = l2_normalize(ops.stop_gradient(ops.cast(targets, "float32")))
    others = (ops.sum(z, axis=0, keepdims=True) - z) / float(num_views - 1)
    centroids = l2_normalize(others)
    return ops.mean(2.0 - 2.0 * ops.sum(q * centroids, axis=-1))
