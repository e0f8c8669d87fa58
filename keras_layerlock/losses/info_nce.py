from keras import ops

from keras_layerlock.utils.l2_normalize import l2_normalize


def info_nce_loss(first, second, logit_scale):
    """Symmetric InfoNCE between two batches of paired embeddings.

    ViC-MAE (Hernandez et al., "ViC-MAE: Self-Supervised Representation
    Learning from Images and Video with Contrastive Masked Autoencoders",
    2024): row `i` of `first` and row `i` of `second` are two views of one
    example (the positive pair); every other row of the other batch is a
    negative. The logits are the cosine similarities scaled by
    `logit_scale` (the paper's `exp(tau)`, `tau` learned; `1 /
    temperature` for a fixed temperature); the loss is the mean of the
    cross-entropies in both directions (first to second, second to first).
    Under `keras.distribution` the batch is the global batch: the
    similarity matrix covers the examples of every replica.

    Args:
        first: `(B, D)` embeddings of the first views.
        second: `(B, D)` embeddings of the second views.
        logit_scale: scalar tensor or float multiplying the similarities.

    Returns:
        float32 scalar.

    Example:
    ```python
    a, b = keras.random.normal((8, 16)), keras.random.normal((8, 16))
    loss = info_nce_loss(a, b, logit_scale=10.0)
    ```
    """
    if len(first.shape) != 2 or tuple(first.shape) != tuple(second.shape):
        raise ValueError(
            "`first` and `second` must be 2-D `(batch, dim)` embeddings of the same shape; "
            f"received {tuple(first.shape)} and {tuple(second.shape)}."
        )
    a = l2_normalize(ops.cast(first, "float32"))
    b = l2_normalize(ops.cast(second, "float32"))
    logits = ops.matmul(a, ops.transpose(b)) * ops.cast(logit_scale, "float32")
    labels = ops.arange(ops.shape(a)[0])
    forward = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    backward = ops.sparse_categorical_crossentropy(labels, ops.transpose(logits), from_logits=True)
    return 0.5 * (ops.mean(forward) + ops.mean(backward))
