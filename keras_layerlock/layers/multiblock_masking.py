import math

import keras
import numpy as np
from keras import ops

from keras_layerlock.layers.seeded_layer import SeededLayer

# V-JEPA (Bardes et al., 2024) pairs short-range masks (8 blocks at 15 % of
# the frame) with long-range masks (2 blocks at 70 %); each clip is used
# once with each. The LayerLock supplement's V-JEPA table uses 8 blocks at
# 30 %. Blocks span the whole clip in time in both.
MULTIBLOCK_PRESETS = {
    "vjepa": (
        {"num_blocks": 8, "spatial_scale": (0.15, 0.15), "aspect_ratio": (0.75, 1.5)},
        {"num_blocks": 2, "spatial_scale": (0.7, 0.7), "aspect_ratio": (0.75, 1.5)},
    ),
    "layerlock": (
        {"num_blocks": 8, "spatial_scale": (0.3, 0.3), "aspect_ratio": (0.75, 1.5)},
    ),
}


def _range(value, name, low, high):
    pair = (float(value), float(value)) if np.isscalar(value) else tuple(map(float, value))
    if len(pair) != 2 or not low <= pair[0] <= pair[1] <= high:
        raise ValueError(
            f"`{name}` must be a number or a (min, max) pair with {low} <= min <= "
            f"max <= {high}; received {value!r}."
        )
    return pair


@keras.saving.register_keras_serializable(package="keras_layerlock")
class MultiblockMasking(SeededLayer):
    """V-JEPA multiblock masks, drawn inside the compiled training step.

    Each clip gets `num_blocks` spatial blocks (area a fraction
    `spatial_scale` of the frame, aspect ratio `aspect_ratio` = height /
    width, both uniform in their ranges; V-JEPA's public
    `masks/multiblock3d.py`), repeated through a `temporal_scale` fraction
    of the clip (the whole clip by default). The union of the blocks is the
    target region; the context is its complement, so context and targets
    never share a token. A clip whose blocks cover every token keeps one
    random token as context. Block heights and widths stay below the grid size,
    as in V-JEPA, so a single block never hides a whole frame.

    Static shapes. The number of tokens in the union varies per clip, but
    a compiled step needs fixed sizes: the layer returns
    `num_context` context and `num_target` target ids per clip, where the
    two sizes are the `token_quantile` quantiles of the context and target
    counts (estimated once per grid from 4,096 draws). A clip with fewer
    tokens than that pads with ids marked invalid (`context_valid` /
    `target_valid` False: excluded from attention and from the loss); a
    clip with more keeps a random subset (V-JEPA's collator instead
    truncates every clip to the batch minimum).

    Args:
        num_blocks: int; 8 in both V-JEPA mask kinds.
        spatial_scale: float or `(min, max)` fraction of the frame per block.
        aspect_ratio: float or `(min, max)`; defaults to `(0.75, 1.5)`.
        temporal_scale: float or `(min, max)` fraction of the clip's
            temporal tokens per block; defaults to 1 (whole clip).
        token_quantile: float in (0, 1]; defaults to 0.95.
        seed: int or None.
        **kwargs: base layer arguments.

    Call arguments (of `sample`):
        batch_size: int or scalar tensor.
        grid_shape: `(T', H', W')`.

    Returns:
        `(context_ids, context_valid, target_ids, target_valid)`: int32
        `(B, num_context)`, bool `(B, num_context)`, int32 `(B, num_target)`,
        bool `(B, num_target)`.

    Example:
    ```python
    masking = MultiblockMasking(num_blocks=8, spatial_scale=0.15, seed=0)
    context, context_valid, target, target_valid = masking.sample(2, (8, 14, 14))
    ```
    """

    def __init__(
        self,
        num_blocks=8,
        spatial_scale=(0.15, 0.15),
        aspect_ratio=(0.75, 1.5),
        temporal_scale=(1.0, 1.0),
        token_quantile=0.95,
        seed=None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        if int(num_blocks) < 1:
            raise ValueError(f"`num_blocks` must be >= 1; received {num_blocks}.")
        if not 0.0 < float(token_quantile) <= 1.0:
            raise ValueError(f"`token_quantile` must be in (0, 1]; received {token_quantile}.")
        self.num_blocks = int(num_blocks)
        self.spatial_scale = _range(spatial_scale, "spatial_scale", 1e-6, 1.0)
        self.aspect_ratio = _range(aspect_ratio, "aspect_ratio", 1e-6, float("inf"))
        self.temporal_scale = _range(temporal_scale, "temporal_scale", 1e-6, 1.0)
        self.token_quantile = float(token_quantile)
        self._counts = {}

    def block_masks(self, uniforms, grid_shape, xp=ops):
        """The blocks given the uniform draws that place them.

        Written once for both `keras.ops` (inside the training step) and
        NumPy (`token_counts`), so the statistics describe the masks used.

        Args:
            uniforms: `(B, num_blocks, 6)` floats in [0, 1).
            grid_shape: `(T', H', W')`.
            xp: `keras.ops` or `numpy`.

        Returns:
            bool `(B, num_blocks, T', H', W')`, True inside each block.
        """
        gt, gh, gw = grid_shape
        u = [uniforms[..., i] for i in range(6)]
        scale = self.spatial_scale[0] + u[0] * (self.spatial_scale[1] - self.spatial_scale[0])
        ratio = self.aspect_ratio[0] + u[1] * (self.aspect_ratio[1] - self.aspect_ratio[0])
        area = scale * (gh * gw)
        height = xp.clip(xp.round(xp.sqrt(area * ratio)), 1, max(gh - 1, 1))
        width = xp.clip(xp.round(xp.sqrt(area / ratio)), 1, max(gw - 1, 1))
        t_scale = self.temporal_scale[0] + u[2] * (
            self.temporal_scale[1] - self.temporal_scale[0]
        )
        length = xp.clip(xp.round(t_scale * gt), 1, gt)

        def inside(size, extent, draw):
            start = xp.floor(draw * (extent - size + 1))
            index = xp.arange(extent, dtype="float32")
            return (index >= start[..., None]) & (index < (start + size)[..., None])

        times = inside(length, gt, u[3])  # (B, K, T')
        rows = inside(height, gh, u[4])  # (B, K, H')
        cols = inside(width, gw, u[5])  # (B, K, W')
        return times[:, :, :, None, None] & rows[:, :, None, :, None] & cols[:, :, None, None, :]

    def token_counts(self, grid_shape):
        """Static `(num_context, num_target)` for a grid (see the class doc)."""
        grid_shape = tuple(int(g) for g in grid_shape)
        if grid_shape not in self._counts:
            draws = np.random.default_rng(0).random((4096, self.num_blocks, 6), dtype="float32")
            union = self.block_masks(draws, grid_shape, xp=np).any(axis=1).reshape(len(draws), -1)
            num_tokens = union.shape[1]
            # `sample` hands one token back to a clip whose blocks hide all.
            masked = np.minimum(union.sum(axis=1), num_tokens - 1)
            q = self.token_quantile
            num_target = int(math.ceil(np.quantile(masked, q)))
            num_context = int(math.ceil(np.quantile(num_tokens - masked, q)))
            self._counts[grid_shape] = (
                min(max(num_context, 1), num_tokens),
                min(max(num_target, 1), num_tokens),
            )
        return self._counts[grid_shape]

    def sample(self, batch_size, grid_shape):
        """Draws one set of masks (see the class docstring)."""
        grid_shape = tuple(int(g) for g in grid_shape)
        num_context, num_target = self.token_counts(grid_shape)
        uniforms = keras.random.uniform(
            (batch_size, self.num_blocks, 6), seed=self.seed_generator
        )
        union = ops.any(self.block_masks(uniforms, grid_shape), axis=1)
        union = ops.reshape(union, (batch_size, -1))
        noise = keras.random.uniform(ops.shape(union), seed=self.seed_generator)
        # A clip whose blocks cover every token keeps one random token as
        # its context (V-JEPA redraws such masks; a compiled step cannot).
        hidden_everywhere = ops.all(union, axis=1, keepdims=True)
        one_token = ops.one_hot(ops.argmin(noise, axis=1), union.shape[1]) > 0.5
        union = ops.logical_and(union, ops.logical_not(ops.logical_and(hidden_everywhere, one_token)))
        masked = ops.cast(union, "float32")
        # Sorting `indicator + noise` lists one kind first in random order.
        context_ids = ops.cast(ops.argsort(masked + noise, axis=-1)[:, :num_context], "int32")
        target_ids = ops.cast(ops.argsort(1.0 - masked + noise, axis=-1)[:, :num_target], "int32")
        context_valid = ops.logical_not(ops.take_along_axis(union, context_ids, axis=1))
        target_valid = ops.take_along_axis(union, target_ids, axis=1)
        return context_ids, context_valid, target_ids, target_valid

    def call(self, batch_size, grid_shape):
        return self.sample(batch_size, grid_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_blocks": self.num_blocks,
                "spatial_scale": self.spatial_scale,
                "aspect_ratio": self.aspect_ratio,
                "temporal_scale": self.temporal_scale,
                "token_quantile": self.token_quantile,
            }
        )
        return config
