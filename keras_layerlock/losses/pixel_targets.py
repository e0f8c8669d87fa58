"""Pixel targets of masked prediction (`LayerLockMAE` before LayerLock's first event)."""

import numpy as np
from keras import ops

from keras_layerlock.utils.video_patches import standardize_last_axis


def check_pixel_target_options(norm_pix_loss, raw_pixel_loss_weight):
    """Validated `(norm_pix_loss, raw_pixel_loss_weight)` as `(bool, float)`."""
    weight = raw_pixel_loss_weight
    if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)) \
            or not np.isfinite(weight) or weight < 0:
        raise ValueError(
            "`raw_pixel_loss_weight` must be a finite number >= 0; received "
            f"{raw_pixel_loss_weight!r}."
        )
    if weight > 0 and not norm_pix_loss:
        raise ValueError(
            f"`raw_pixel_loss_weight={raw_pixel_loss_weight}` adds raw pixels beside the "
            "normalised ones, but `norm_pix_loss=False` already makes raw pixels the "
            "target. Pass `norm_pix_loss=True`, or leave `raw_pixel_loss_weight` at 0."
        )
    return bool(norm_pix_loss), float(weight)


def pixel_target_dim(patch_dim, raw_pixel_loss_weight):
    """Outputs of the pixel head: the patch, twice with raw pixels beside."""
    return patch_dim * (2 if raw_pixel_loss_weight > 0 else 1)


def pixel_targets(patches, norm_pix_loss, raw_pixel_loss_weight):
    """Targets for the tubelets `patches` `(..., patch_dim)`.

    Raw pixels; with `norm_pix_loss`, each tubelet standardised over its
    own pixels (MAE: sample variance, epsilon 1e-6); with a positive
    `raw_pixel_loss_weight` as well, the raw pixels times
    `sqrt(raw_pixel_loss_weight)` beside them, so that the mean squared
    error over the result is `(mse_normalised + weight * mse_raw) / 2`.
    """
    if not norm_pix_loss:
        return patches
    normalised = standardize_last_axis(patches, epsilon=1e-6, unbiased=True)
    if raw_pixel_loss_weight <= 0:
        return normalised
    scale = float(np.sqrt(raw_pixel_loss_weight))
    return ops.concatenate([normalised, patches * scale], axis=-1)
