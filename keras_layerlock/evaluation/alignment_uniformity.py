import numpy as np


def _normalise(x):
    x = np.asarray(x, "float64")
    if x.ndim != 2:
        raise ValueError(f"Expected features of shape (n, d); received {x.shape}.")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def alignment(features, positive_features, alpha=2):
    """Alignment of positive pairs (Wang & Isola, 2020); lower is better.

    `mean ||f(x) - f(y)||^alpha` over pairs of L2-normalised features of two
    views of the same example.

    Args:
        features, positive_features: `(n, d)`; row i of each is a pair.
        alpha: float; defaults to 2.

    Example:
    ```python
    alignment(view_1_features, view_2_features)
    ```
    """
    x, y = _normalise(features), _normalise(positive_features)
    if x.shape != y.shape:
        raise ValueError(f"Pairs need equal shapes; received {x.shape} and {y.shape}.")
    return float(np.mean(np.linalg.norm(x - y, axis=1) ** alpha))


def uniformity(features, t=2.0):
    """Uniformity on the hypersphere (Wang & Isola, 2020); lower is better.

    `log mean exp(-t ||f(x) - f(y)||^2)` over all pairs of distinct
    L2-normalised features: near 0 when they collapse to a point, about
    -4 for spread-out features with t = 2.

    Args:
        features: `(n, d)`, n >= 2.
        t: float; defaults to 2.

    Example:
    ```python
    uniformity(features)
    ```
    """
    x = _normalise(features)
    if len(x) < 2:
        raise ValueError("Uniformity needs at least two features.")
    squared = np.maximum(2.0 - 2.0 * x @ x.T, 0.0)
    upper = squared[np.triu_indices(len(x), k=1)]
    values = -t * upper
    top = values.max()
    return float(top + np.log(np.mean(np.exp(values - top))))
