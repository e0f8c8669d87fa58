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

    V-JEPA's released encoders hold the table of their training grid and,
    for any other grid, resize it with PyTorch's trilinear interpolation
    (`align_corners=False`) rather than evaluating the sines on the new
    grid. `reference_grid_shape` reproduces that: the embedding of a token
    of a `grid_shape` grid is the interpolated reference table at its
    cell. Each channel depends on one axis only, so the trilinear resize is
    a linear interpolation per axis, computed here per token (masked
    subsets of tokens get the same values as the full grid).

    Args:
        max_wavelength: float; defaults to 10,000.
        uniform_power: bool. Equal channel shares for T, H and W instead of
            1/2, 1/4, 1/4. Defaults to False.
        reference_grid_shape: None (evaluate the sines at every grid's own
            coordinates) or `(T', H', W')`: the grid whose table is
            interpolated to other grids, as V-JEPA's code does.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: tokens `(batch, num_tokens, hidden_dim)`.
        positions: `(num_tokens, 3)` or `(batch, num_tokens, 3)` grid
            coordinates.
        grid_shape: the `(T', H', W')` grid `positions` belong to; needed
            only with `reference_grid_shape` (None: the reference grid).

    Example:
    ```python
    layer = SinCosPositionEmbedding3D()
    out = layer(np.zeros((1, 8, 32), "float32"),
                keras_layerlock.utils.grid_positions((2, 2, 2)))
    ```
    """

    def __init__(self, max_wavelength=10000.0, uniform_power=False, reference_grid_shape=None,
                 **kwargs):
        super().__init__(**kwargs)
        if float(max_wavelength) <= 0:
            raise ValueError(
                "`max_wavelength` must be positive. Received: "
                f"max_wavelength={max_wavelength}"
            )
        self.max_wavelength = float(max_wavelength)
        self.uniform_power = bool(uniform_power)
        if reference_grid_shape is not None:
            reference_grid_shape = tuple(reference_grid_shape)
            if len(reference_grid_shape) != 3 or any(
                isinstance(g, bool) or int(g) != g or g < 1 for g in reference_grid_shape
            ):
                raise ValueError(
                    "`reference_grid_shape` must be None or three positive ints (T', H', W'). "
                    f"Received: reference_grid_shape={reference_grid_shape!r}"
                )
            reference_grid_shape = tuple(int(g) for g in reference_grid_shape)
        self.reference_grid_shape = reference_grid_shape
        self.built = True

    def axis_dims(self, hidden_dim):
        """Channels given to (T, H, W) before truncation to `hidden_dim`."""
        if self.uniform_power:
            d = 2 * -(-hidden_dim // 6)
            return (d, d, d)
        return (hidden_dim // 2, hidden_dim // 4, hidden_dim // 4)

    def embedding(self, positions, hidden_dim, grid_shape=None):
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
            coordinate = positions[..., axis, None]
            if self.reference_grid_shape is None:
                parts.append(_sin_cos(coordinate * omega))
                continue
            reference = self.reference_grid_shape[axis]
            size = reference if grid_shape is None else int(grid_shape[axis])
            # PyTorch's source index for align_corners=False, clamped at 0.
            source = ops.maximum((coordinate + 0.5) * (reference / size) - 0.5, 0.0)
            lower = ops.minimum(ops.floor(source), reference - 1.0)
            upper = ops.minimum(lower + 1.0, reference - 1.0)
            weight = source - lower
            parts.append((1.0 - weight) * _sin_cos(lower * omega)
                         + weight * _sin_cos(upper * omega))
        return ops.concatenate(parts, axis=-1)[..., :hidden_dim]

    def call(self, inputs, positions, grid_shape=None):
        emb = self.embedding(positions, inputs.shape[-1], grid_shape)
        return inputs + ops.cast(emb, inputs.dtype)

    def compute_output_shape(self, inputs_shape, positions_shape=None):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_wavelength": self.max_wavelength,
                "uniform_power": self.uniform_power,
                "reference_grid_shape": self.reference_grid_shape,
            }
        )
        return config


def _sin_cos(angles):
    return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)
