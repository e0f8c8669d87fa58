import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_layerlock")
class TokenGridPooling(keras.layers.Layer):
    """Average-pools a flat token sequence on its `(T, H, W)` grid.

    The fast probe path: pooling the tokens of a video ViT to a coarse grid
    (e.g. `(2, 2, 2)` cells) keeps where and when things happen, at the
    resolution a probe can use with few labels, and makes a linear or
    attentive probe on the pooled tokens cheap.

    Args:
        token_grid: `(T, H, W)` grid of the input tokens (row-major, as the
            backbone flattens it).
        pooled_grid: `(t, h, w)` output grid; each must divide the
            corresponding `token_grid` size.
        **kwargs: base layer arguments.

    Call arguments:
        tokens: `(B, T * H * W, D)`.

    Returns:
        `(B, t * h * w, D)` cell means, row-major.

    Example:
    ```python
    pool = TokenGridPooling(token_grid=(4, 4, 4), pooled_grid=(2, 2, 2))
    pooled = pool(np.random.rand(3, 64, 160).astype("float32"))  # (3, 8, 160)
    ```
    """

    def __init__(self, token_grid, pooled_grid=(2, 2, 2), **kwargs):
        super().__init__(**kwargs)
        token_grid = tuple(int(g) for g in token_grid)
        pooled_grid = tuple(int(g) for g in pooled_grid)
        if (len(token_grid) != 3 or len(pooled_grid) != 3 or min(pooled_grid) < 1
                or any(g % p for g, p in zip(token_grid, pooled_grid))):
            raise ValueError(
                "`pooled_grid` must be 3 positive sizes that divide `token_grid`; "
                f"received token_grid={token_grid}, pooled_grid={pooled_grid}."
            )
        self.token_grid = token_grid
        self.pooled_grid = pooled_grid

    @property
    def num_tokens(self):
        return self.token_grid[0] * self.token_grid[1] * self.token_grid[2]

    def call(self, tokens):
        if tokens.shape[1] is not None and tokens.shape[1] != self.num_tokens:
            raise ValueError(
                f"Expected {self.num_tokens} tokens (a {self.token_grid} grid); received "
                f"{tokens.shape[1]}. Set `token_grid` to the backbone's grid."
            )
        (gt, gh, gw), (pt, ph, pw) = self.token_grid, self.pooled_grid
        dim = tokens.shape[-1]
        x = ops.reshape(tokens, (-1, pt, gt // pt, ph, gh // ph, pw, gw // pw, dim))
        x = ops.mean(x, axis=(2, 4, 6))
        return ops.reshape(x, (-1, pt * ph * pw, dim))

    def compute_output_shape(self, tokens_shape):
        return (tokens_shape[0], self.pooled_grid[0] * self.pooled_grid[1] * self.pooled_grid[2],
                tokens_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"token_grid": self.token_grid, "pooled_grid": self.pooled_grid})
        return config
