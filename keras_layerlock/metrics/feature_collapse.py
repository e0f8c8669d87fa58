"""Collapse statistics of a set of feature vectors."""

from keras import ops


def feature_collapse_statistics(features):
    """Per-dimension spread and effective rank of features `(n, d)`.

    - `feature_std`: mean over dimensions of the standard deviation of the
      L2-normalised features. Collapsed features (all alike) give 0;
      features spread over the sphere give about `1 / sqrt(d)` (the
      collapse indicator of SimSiam, Chen & He 2021).
    - `effective_rank`: `exp(entropy)` of the singular values of the
      centred features normalised to sum 1 (RankMe, Garrido et al. 2023):
      between 1 (one direction) and `min(n, d)`.
    - `effective_rank_fraction`: `effective_rank / min(n, d)`.

    Args:
        features: `(n, d)` or `(n, tokens, d)` (tokens are flattened into
            samples); n >= 2.

    Returns:
        dict of float32 scalars.

    Example:
    ```python
    stats = feature_collapse_statistics(np.random.randn(512, 64))
    # effective_rank close to 64 * 0.9, feature_std close to 1 / 8
    ```
    """
    x = ops.cast(features, "float32")
    if len(x.shape) == 3:
        x = ops.reshape(x, (-1, x.shape[-1]))
    if len(x.shape) != 2 or x.shape[0] is not None and x.shape[0] < 2:
        raise ValueError(
            "Expected features of shape (n, d) or (n, tokens, d) with n >= 2; "
            f"received shape {tuple(x.shape)}."
        )
    normalised = x / ops.maximum(ops.norm(x, axis=-1, keepdims=True), 1e-12)
    feature_std = ops.mean(ops.std(normalised, axis=0))
    centred = x - ops.mean(x, axis=0, keepdims=True)
    singular = ops.svd(centred, compute_uv=False)
    p = singular / ops.maximum(ops.sum(singular), 1e-12)
    entropy = -ops.sum(ops.where(p > 0, p * ops.log(ops.maximum(p, 1e-30)), 0.0))
    effective_rank = ops.exp(entropy)
    max_rank = float(min(x.shape[0], x.shape[1]))
    return {
        "feature_std": feature_std,
        "effective_rank": effective_rank,
        "effective_rank_fraction": effective_rank / max_rank,
    }
