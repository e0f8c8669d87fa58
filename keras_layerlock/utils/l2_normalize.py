from keras import ops


def l2_normalize(x, axis=-1):
    """`x / ||x||` along `axis`, with the norm floored at 1e-6.

    The joint-embedding losses normalise their embeddings with this rather
    than `keras.ops.normalize`, whose `rsqrt` gives NaN gradients for an
    all-zero vector (which a ReLU-ended projector can output); here the
    floor is taken before the square root, so the gradient stays finite.

    Args:
        x: tensor.
        axis: int. The axis normalised; defaults to the last.

    Example:
    ```python
    unit = l2_normalize(keras.random.normal((8, 16)))  # rows of norm 1
    ```
    """
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), 1e-12))
