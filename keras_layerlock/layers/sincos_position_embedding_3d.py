import keras
from keras import ops

from keras_layerlock.utils.video_patches import standardize_positions


@keras.saving.register_keras_serializable(package="keras_layerlock")
class SinCosPositionEmbedding3D(keras.layers.Layer):
    """Adds fixed 3-D sine-cosine position embeddings to the tokens.

    The embedding of V-JEPA (Bardes et al., 2024, public code
    `src/models/utils/pos_embs.py`), computed from each token's own grid
    coordinates so it needs no fixed grid: the channels are split into a
    time, a height and a width part (by default half, a quarter and a
    quarter, V-JEPA's layout; `uniform_power=True` gives three equal parts),
    and each part holds `[sin(pos * w), cos(pos * w)]` with
    `w = 1 / max_wavelength ** (arange(n/2) / (n/2))`. VideoMAE's 1-D table
    over the flattened token index is a different function; this layer
    implements the 3-D one.

    Args:
        max_wavelength: float; defaults to 10,000.
        uniform_power: bool. Equal channel shares for T, H and W instead of
            1/2, 1/4, 1/4. Defaults to False.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: tokens `(batch, num_tokens, hidden_dim)`.
        positions: `(num_tokens, 3)` or `(batch, num_tokens, 3)` grid
            coordinates.

    Example:
    ```python
    layer = SinCosPositionEmbedding3D()
    out = layer(np.zeros((1, 8, 32), "float32"),
                keras_layerlock.utils.grid_positions((2, 2, 2)))
    ```
    """

    def __init__(self, max_wavelength=10000.0, uniform_power=False, **kwargs):
        super().__init__(**kwargs)
        if float(max_wavelength) <= 0:
            raise ValueError(
                "`max_wavelength` must be positive. Received: "
                f"max_wavelength={max_wavelength}"
            )
        self.max_wavelength = float(max_wavelength)
        self.uniform_power = bool(uniform_power)
        self.built = True

    def axis_dims(self, hidden_dim):
        """Channels given to (T, H, W) before truncation to `hidden_dim`."""
        if self.uniform_power:
            d = 2 * -(-hidden_dim // 6)
            return (d, d, d)
        return (hidden_dim // 2, hidden_dim // 4, hidden_dim // 4)

    def embedding(self, positions, hidden_dim):
        """The `(B|1, N, hidden_dim)` embedding of the given positions."""
        positions = standardize_positions(positions)
        parts = []
        for axis, n in enumerate(self.axis_dims(hidden_dim)):
            if n < 2 or n % 2:
                raise ValueError(
                    "SinCosPositionEmbedding3D needs an even, non-zero number "
                    f"of channels per axis; hidden_dim={hidden_dim} gives "
                    f"{self.axis_dims(hidden_dim)}. Use a hidden_dim that is "
                    "a multiple of 8 (or 6 with uniform_power=True)."
                )
            omega = ops.arange(n // 2, dtype="float32") / (n / 2.0)
            omega = ops.power(self.max_wavelength, -omega)
            angles = positions[..., axis, None] * omega
            parts += [ops.sin(angles), ops.cos(angles)]
        return ops.concatenate(parts, axis=-1)[..., :hidden_dim]

    def call(self, inputs, positions):
        emb = self.embedding(positions, inputs.shape[-1])
        return inputs + ops.cast(emb, inputs.dtype)

    def compute_output_shape(self, inputs_shape, positions_shape=None):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_wavelength": self.max_wavelength,
                "uniform_power": self.uniform_power,
            }
        )
        return config
