from keras import ops

from keras_layerlock.losses.variance_covariance import variance_covariance_loss


def vicreg_loss(first, second, invariance_weight=25.0, variance_weight=25.0,
                covariance_weight=1.0, variance_target=1.0, epsilon=1e-4):
    """VICReg: invariance, variance and covariance terms of two views.

    Bardes, Ponce and LeCun (2022), with their default weights (lambda =
    mu = 25, nu = 1, gamma = 1): the invariance term is the mean squared
    distance between the paired embeddings; the variance hinge and the
    covariance penalty (`variance_covariance_loss`) are computed on each
    view's batch, the first averaged and the second summed over the two
    views, as in the authors' code.

    Args:
        first: `(B, D)` embeddings of the first views.
        second: `(B, D)` embeddings of the second views.
        invariance_weight, variance_weight, covariance_weight: floats.
        variance_target: float, gamma.
        epsilon: float added to the variance before the square root.

    Returns:
        `(total, terms)`: the weighted sum and a dict of the unweighted
        `invariance`, `variance` and `covariance` terms (float32 scalars).

    Example:
    ```python
    total, terms = vicreg_loss(keras.random.normal((16, 32)), keras.random.normal((16, 32)))
    ```
    """
    if len(first.shape) != 2 or tuple(first.shape) != tuple(second.shape):
        raise ValueError(
            "`first` and `second` must be 2-D `(batch, dim)` embeddings of the same shape; "
            f"received {tuple(first.shape)} and {tuple(second.shape)}."
        )
    a, b = ops.cast(first, "float32"), ops.cast(second, "float32")
    invariance = ops.mean(ops.square(a - b))
    variance_a, covariance_a = variance_covariance_loss(a, variance_target, epsilon)
    variance_b, covariance_b = variance_covariance_loss(b, variance_target, epsilon)
    # As the authors' code: the variance hinge averaged over the views, the
    # covariance penalty summed (their paper writes both as sums).
    variance = 0.5 * (variance_a + variance_b)
    covariance = covariance_a + covariance_b
    total = (invariance_weight * invariance + variance_weight * variance
             + covariance_weight * covariance)
    return total, {"invariance": invariance, "variance": variance, "covariance": covariance}
