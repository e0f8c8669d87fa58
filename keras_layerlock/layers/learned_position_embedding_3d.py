import keras
from keras import ops

from keras_layerlock.utils.video_patches import standardize_positions


@keras.saving.register_keras_serializable(package="keras_layerlock")
class LearnedPositionEmbedding3D(keras.layers.Layer):
    """Adds a learned embedding per `(t, h, w)` grid cell to the tokens.

    The absolute position embedding of ViT / V-JEPA, stored flat as
    `(T' * H' * W', hidden_dim)` in row-major grid order (the layout of the
    `pos_embed` tensors in public V-JEPA checkpoints, minus their leading
    axis). Each token looks up its own grid coordinates, so masked training
    that keeps a subset of tokens adds the right embedding to each of them.
    LayerLock uses learned embeddings for its V-JEPA runs (Erdogan et al.,
    2025, supplementary A.2).

    Args:
        grid_shape: tuple `(T', H', W')` of the token grid the embedding
            covers. Inputs must use this grid.
        embeddings_initializer: initializer for the table; defaults to a
            truncated normal with standard deviation 0.02.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: tokens `(batch, num_tokens, hidden_dim)`.
        positions: `(num_tokens, 3)` or `(batch, num_tokens, 3)` integer grid
            coordinates.

    Example:
    ```python
    layer = LearnedPositionEmbedding3D(grid_shape=(2, 4, 4))
    tokens = np.zeros((1, 32, 16), "float32")
    positions = keras_layerlock.utils.grid_positions((2, 4, 4))
    out = layer(tokens, positions)  # tokens + the table, row by row
    ```
    """

    def __init__(
        self,
        grid_shape,
        embeddings_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        grid_shape = tuple(int(g) for g in grid_shape)
        if len(grid_shape) != 3 or any(g <= 0 for g in grid_shape):
            raise ValueError(
                "`grid_shape` must be three positive ints (T', H', W'). "
                f"Received: grid_shape={grid_shape}"
            )
        self.grid_shape = grid_shape
        if embeddings_initializer is None:
            embeddings_initializer = keras.initializers.TruncatedNormal(
                stddev=0.02
            )
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer
        )

    @property
    def num_positions(self):
        gt, gh, gw = self.grid_shape
        return gt * gh * gw

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.num_positions, input_shape[-1]),
            initializer=self.embeddings_initializer,
        )
        self.built = True

    def call(self, inputs, positions):
        positions = ops.cast(standardize_positions(positions), "int32")
        _, gh, gw = self.grid_shape
        flat = positions[..., 0] * (gh * gw) + positions[..., 1] * gw
        flat = flat + positions[..., 2]
        table = ops.cast(self.embeddings, inputs.dtype)
        return inputs + ops.take(table, flat, axis=0)

    def compute_output_shape(self, inputs_shape, positions_shape=None):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "grid_shape": self.grid_shape,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config
