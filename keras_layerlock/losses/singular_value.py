from keras import ops

from keras_layerlock.utils.l2_normalize import l2_normalize


def singular_value_loss(embeddings):
    """Minus the mean singular value of a batch of L2-normalised embeddings.

    MSBReg's singular value loss decorrelates the embedding dimensions;
    its formula is not given in the paper's supplement, so this is SVMax's
    form (Taha et al., "SVMax: A Feature Embedding Regularizer", 2021):
    with every row normalised, the singular values' sum of squares is fixed
    (the batch size), so raising their mean spreads the variance over more
    dimensions; a collapsed batch has one singular value. Minimising the
    loss maximises the mean singular value.

    Args:
        embeddings: `(N, D)`.

    Returns:
        float32 scalar in `[-sqrt(N / min(N, D)) ... , 0]`: minus the mean of
        the `min(N, D)` singular values.

    Example:
    ```python
    loss = singular_value_loss(keras.random.normal((32, 16)))
    ```
    """
    if len(embeddings.shape) != 2:
        raise ValueError(f"`embeddings` must be `(N, D)`; received {tuple(embeddings.shape)}.")
    singular_values = ops.svd(l2_normalize(ops.cast(embeddings, "float32")), compute_uv=False)
    return -ops.mean(singular_values)
