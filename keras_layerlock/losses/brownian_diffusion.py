from keras import ops

from keras_layerlock.utils.l2_normalize import l2_normalize


def brownian_diffusion_loss(embeddings, direction):
    """MSBReg's Brownian diffusive loss: alignment with a random direction.

    The mean cosine similarity between the L2-normalised online embeddings
    and one Gaussian direction drawn afresh every training step. Its
    gradient pushes every embedding along a random direction that changes
    each step: a random walk that spreads the embeddings apart and so
    counters collapse (the paper rescues BYOL with LayerNorm heads with it).

    Args:
        embeddings: `(N, D)` online embeddings (e.g. every view's
            predictions, stacked).
        direction: `(D,)` the step's random direction (need not be unit).

    Returns:
        float32 scalar in [-1, 1].

    Example:
    ```python
    direction = keras.random.normal((128,), seed=seed_generator)
    loss = brownian_diffusion_loss(predictions, direction)
    ```
    """
    if len(embeddings.shape) != 2 or tuple(direction.shape) != (embeddings.shape[-1],):
        raise ValueError(
            "`embeddings` must be `(N, D)` and `direction` `(D,)`; received "
            f"{tuple(embeddings.shape)} and {tuple(direction.shape)}."
        )
    e = l2_normalize(ops.cast(embeddings, "float32"))
    d = l2_normalize(ops.stop_gradient(ops.cast(direction, "float32")))
    return ops.mean(ops.matmul(e, d))
