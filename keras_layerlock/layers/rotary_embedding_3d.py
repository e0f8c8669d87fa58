import keras
from keras import ops

from keras_layerlock.utils.video_patches import standardize_positions

ROPE_STYLES = ("rope3d", "vjepa2")


@keras.saving.register_keras_serializable(package="keras_layerlock")
class RotaryEmbedding3D(keras.layers.Layer):
    """Rotary position embedding over a `(t, h, w)` token grid.

    The last axis of the input (width `C`) is split into four consecutive
    parts: the first three are rotated with 1-D rotary embeddings (Su et al.,
    "RoFormer", 2021) along the time, height and width coordinate of each
    token; the fourth carries no position signal. Rotations depend only on a
    token's own integer coordinates, so tokens dropped by masking do not move
    the others.

    Two layouts are provided:

    - `style="rope3d"` (LayerLock / 4DS; Erdogan et al., "LayerLock:
      Non-collapsing Representation Learning with Progressive Freezing",
      2025): part sizes are `proportions * C`, each rounded down to an even
      number (defaults 10 % T, 25 % H, 25 % W, so 40 % is left unrotated).
      Inside a part of `n` channels, channel `i` is paired with channel
      `i + n/2` (the "rotate-half" layout), with frequencies
      `max_wavelength ** (-2i / n)`. The papers do not fix the pairing; any
      pairing is a rotation and gives the same relative-position property.
    - `style="vjepa2"` (Assran et al., "V-JEPA 2", 2025, public code
      `src/models/utils/modules.py`): each part has
      `2 * ((C // 3) // 2)` channels, adjacent channels `(2i, 2i + 1)` form a
      pair, frequencies are `1 / 10000 ** (arange(n/2) / (n/2))`. The public
      code expands the `n/2` frequencies to `n` channels with `repeat`
      (tiling: `f0, f1, ..., f0, f1, ...`) instead of `repeat_interleave`,
      so the two members of a pair are turned by different angles and the
      map is not an exact rotation. Converted V-JEPA 2 weights only
      reproduce with that quirk, so `vjepa2_frequency_quirk=True` is the
      default for this style; `False` gives the corrected rotation.

    Args:
        style: `"rope3d"` or `"vjepa2"`.
        proportions: tuple of three floats, the share of channels rotated
            along T, H and W (`style="rope3d"` only).
        max_wavelength: float. Longest wavelength of the rotation
            frequencies; defaults to 10,000.
        vjepa2_frequency_quirk: bool. Reproduce the V-JEPA 2 frequency
            layout exactly (`style="vjepa2"` only). Defaults to True.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: tensor `(batch, num_tokens, C)` or
            `(batch, num_tokens, num_heads, C)`.
        positions: `(num_tokens, 3)` or `(batch, num_tokens, 3)` integer
            `(t, h, w)` grid coordinates of the tokens.

    Returns:
        A tensor of the input's shape and dtype.

    Example:
    ```python
    rope = RotaryEmbedding3D(proportions=(0.1, 0.25, 0.25))
    x = np.random.randn(2, 8, 40).astype("float32")
    positions = np.stack(np.meshgrid(range(2), range(2), range(2),
                                     indexing="ij"), -1).reshape(-1, 3)
    y = rope(x, positions)  # channels 24..39 are returned unchanged
    ```
    """

    def __init__(
        self,
        style="rope3d",
        proportions=(0.1, 0.25, 0.25),
        max_wavelength=10000.0,
        vjepa2_frequency_quirk=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if style not in ROPE_STYLES:
            raise ValueError(
                f"`style` must be one of {ROPE_STYLES}. Received: "
                f"style={style!r}"
            )
        proportions = tuple(float(p) for p in proportions)
        if (
            len(proportions) != 3
            or any(p < 0 for p in proportions)
            or sum(proportions) > 1.0 + 1e-9
        ):
            raise ValueError(
                "`proportions` must be three non-negative shares of the "
                "channels (T, H, W) summing to at most 1. Received: "
                f"proportions={proportions}"
            )
        if float(max_wavelength) <= 0:
            raise ValueError(
                "`max_wavelength` must be positive. Received: "
                f"max_wavelength={max_wavelength}"
            )
        self.style = style
        self.proportions = proportions
        self.max_wavelength = float(max_wavelength)
        self.vjepa2_frequency_quirk = bool(vjepa2_frequency_quirk)
        self.built = True

    def axis_dims(self, num_channels):
        """Channels rotated along `(T, H, W)` for an input of this width."""
        num_channels = int(num_channels)
        if self.style == "vjepa2":
            d = 2 * ((num_channels // 3) // 2)
            return (d, d, d)
        return tuple(2 * int(p * num_channels / 2 + 1e-9) for p in self.proportions)

    def num_unrotated(self, num_channels):
        """Channels left without a position signal."""
        return int(num_channels) - sum(self.axis_dims(num_channels))

    def _frequencies(self, n):
        exponent = ops.arange(n // 2, dtype="float32") / (n / 2.0)
        return ops.power(self.max_wavelength, -exponent)

    def _rotate_part(self, x, pos, n):
        # x: (..., n); pos: (B|1, N) broadcast to x's leading axes.
        angles = pos[..., None] * self._frequencies(n)  # (B|1, N, n/2)
        if len(x.shape) == 4:
            angles = angles[:, :, None, :]
        cos, sin = ops.cos(angles), ops.sin(angles)
        if self.style == "rope3d":
            x1, x2 = x[..., : n // 2], x[..., n // 2 :]
            return ops.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)
        if self.vjepa2_frequency_quirk:
            cos = ops.concatenate([cos, cos], axis=-1)
            sin = ops.concatenate([sin, sin], axis=-1)
        else:
            cos = ops.repeat(cos, 2, axis=-1)
            sin = ops.repeat(sin, 2, axis=-1)
        inner = tuple(x.shape[1:-1])
        pairs = ops.reshape(x, (-1,) + inner + (n // 2, 2))
        pairs = ops.stack([-pairs[..., 1], pairs[..., 0]], axis=-1)
        rotated = ops.reshape(pairs, (-1,) + inner + (n,))
        return x * cos + rotated * sin

    def call(self, inputs, positions):
        if len(inputs.shape) not in (3, 4):
            raise ValueError(
                "RotaryEmbedding3D expects inputs of shape (batch, tokens, "
                "channels) or (batch, tokens, heads, channels). Received "
                f"shape {tuple(inputs.shape)}."
            )
        positions = standardize_positions(positions)
        num_channels = inputs.shape[-1]
        dims = self.axis_dims(num_channels)
        x = ops.cast(inputs, "float32")
        parts, start = [], 0
        for axis, n in enumerate(dims):
            if n:
                part = x[..., start : start + n]
                parts.append(self._rotate_part(part, positions[..., axis], n))
            start += n
        if start < num_channels:
            parts.append(x[..., start:])
        return ops.cast(ops.concatenate(parts, axis=-1), inputs.dtype)

    def compute_output_shape(self, inputs_shape, positions_shape=None):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "style": self.style,
                "proportions": self.proportions,
                "max_wavelength": self.max_wavelength,
                "vjepa2_frequency_quirk": self.vjepa2_frequency_quirk,
            }
        )
        return config
