"""Token masks drawn inside compiled training steps."""

import keras
from keras import ops

MASKING_TYPES = ("random", "tube")


def num_visible_tokens(num_tokens, mask_ratio):
    """Static count of visible tokens (at least 1, at most `num_tokens - 1`)."""
    keep = int(round(num_tokens * (1.0 - float(mask_ratio))))
    return max(1, min(num_tokens - 1, keep))


def sample_token_split(batch_size, grid_shape, mask_ratio, seed_generator, masking="random"):
    """Splits every example's tokens into visible and masked ones.

    Random masking (MAE / 4DS) draws an independent permutation per
    example; tube masking (VideoMAE) masks the same spatial positions in
    every temporal slice. The number of visible tokens is static, so the
    split can be drawn inside a compiled step on every backend.

    Args:
        batch_size: int or scalar tensor.
        grid_shape: `(T', H', W')` token grid.
        mask_ratio: float in (0, 1); 0.95 in 4DS.
        seed_generator: `keras.random.SeedGenerator`.
        masking: `"random"` or `"tube"`.

    Returns:
        `(visible_ids, masked_ids)`, int32 `(B, n_visible)` and
        `(B, N - n_visible)`; masked ids are in random order, so a prefix of
        them is a random subset.
    """
    gt, gh, gw = grid_shape
    num_tokens = gt * gh * gw
    if masking == "random":
        noise = keras.random.uniform((batch_size, num_tokens), seed=seed_generator)
        order = ops.argsort(noise, axis=-1)
    elif masking == "tube":
        spatial = gh * gw
        noise = keras.random.uniform((batch_size, spatial), seed=seed_generator)
        spatial_order = ops.argsort(noise, axis=-1)  # (B, H'W')
        keep_spatial = num_visible_tokens(spatial, mask_ratio)
        offsets = ops.arange(gt, dtype="int32")[:, None] * spatial  # (T', 1)

        def tubes(ids):
            ids = ops.cast(ids, "int32")[:, None, :] + offsets[None]
            return ops.reshape(ids, (-1, gt * ids.shape[-1]))

        return (
            tubes(spatial_order[:, :keep_spatial]),
            tubes(spatial_order[:, keep_spatial:]),
        )
    else:
        raise ValueError(f"`masking` must be one of {MASKING_TYPES}; received {masking!r}.")
    keep = num_visible_tokens(num_tokens, mask_ratio)
    order = ops.cast(order, "int32")
    return order[:, :keep], order[:, keep:]
