import math

import keras
import numpy as np
from keras import ops

from keras_layerlock.losses.masked_depth_l2 import MaskedDepthL2
from keras_layerlock.losses.masked_depth_l2 import depth_prior
from keras_layerlock.metrics.abs_rel import AbsRel
from keras_layerlock.models.readout.frozen_feature_readout import FrozenFeatureReadout
from keras_layerlock.utils.video_patches import normalize_patch_size
from keras_layerlock.utils.video_patches import unpatchify


@keras.saving.register_keras_serializable(package="keras_layerlock")
class ReadoutDepthEstimator(FrozenFeatureReadout):
    """Dense depth by a cross-attention readout on frozen features.

    The 4DS depth protocol: one learned query per `(2, 8, 8)` patch of the
    output depth video, each predicting the patch's 128 depths; trained
    with L2 on valid targets (`MaskedDepthL2`), measured by `AbsRel`.

    Args:
        depth_shape: `(T, H, W)` of the predicted depth video.
        output_patch_size: `(t, h, w)`; defaults to `(2, 8, 8)`.
        backbone: optional `VideoViTBackbone`; without one the inputs are
            features `(B, num_tokens, D)`.
        feature_layer: int. Backbone depth read out; defaults to the last.
        **kwargs: the readout options of `FrozenFeatureReadout`
            (`feature_dim`, `num_tokens`, `token_grid`, `pooled_grid`,
            `feature_normalization`, `readout_type`, `readout_hidden_dim`,
            `readout_num_heads`, `readout_dropout`, `freeze_backbone`) and
            base `keras.Model` arguments. The linear readout maps each
            token to its own output patch, so it needs one token per patch.

    Example:
    ```python
    estimator = keras_layerlock.ReadoutDepthEstimator((8, 32, 32),
                                                      backbone=backbone)
    estimator.adapt(videos, depths)  # feature and depth statistics, kept
    estimator.compile()  # AdamW, MaskedDepthL2, AbsRel
    estimator.fit(videos, depths, epochs=3)
    ```
    """

    def __init__(self, depth_shape, output_patch_size=(2, 8, 8), backbone=None,
                 feature_layer=None, **kwargs):
        kwargs.setdefault("name", "readout_depth_estimator")
        depth_shape = tuple(int(d) for d in depth_shape)
        patch = normalize_patch_size(output_patch_size)
        if len(depth_shape) != 3 or any(d % p for d, p in zip(depth_shape, patch)):
            raise ValueError(
                f"`depth_shape` must be (T, H, W) divisible by the output patch {patch}; "
                f"received {depth_shape}."
            )
        grid = tuple(d // p for d, p in zip(depth_shape, patch))
        super().__init__(math.prod(grid), math.prod(patch), backbone, feature_layer, **kwargs)
        self.depth_shape = depth_shape
        self.output_patch_size = patch
        self.grid = grid
        # Depth in metres = readout output x scale + offset, both taken from
        # the training targets by `adapt`: a readout's weights (and Adam's
        # steps of about the learning rate) live at unit scale, and a few
        # hundred steps cannot move a bias by several metres. The offset is
        # per pixel (the training set's mean depth there), so an untrained
        # readout starts from the layout prior and learns what departs from it.
        self.depth_offset = self.add_weight(name="depth_offset", shape=depth_shape,
                                            initializer="zeros", trainable=False)
        self.depth_scale = self.add_weight(name="depth_scale", shape=(),
                                           initializer="ones", trainable=False)

    def call(self, inputs, training=False):
        patches = self.readout(self.features(inputs, training), training=training)
        depth = unpatchify(patches, self.grid, self.output_patch_size, num_channels=1)[..., 0]
        return depth * ops.cast(self.depth_scale, depth.dtype) + ops.cast(
            self.depth_offset, depth.dtype)

    def check_targets(self, targets):
        """Refuses NumPy depth targets that are not `(n, *depth_shape)`."""
        if isinstance(targets, np.ndarray):
            self._check_depth_shape(targets.shape)

    def _check_depth_shape(self, shape):
        if len(shape) != 4 or tuple(shape[1:]) != self.depth_shape:
            raise ValueError(
                f"Expected depth targets of shape (batch, {', '.join(map(str, self.depth_shape))}) "
                f"(this estimator's depth_shape={self.depth_shape}); received shape "
                f"{tuple(shape)}. Targets are never broadcast: give one depth map per frame, "
                "or build the estimator with the targets' depth_shape."
            )

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y is not None:
            # Static shapes: checked once per trace, on every backend.
            self._check_depth_shape(y.shape)
        return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                    training=training)

    def adapt_targets(self, targets):
        """Sets the output offset to the per-pixel mean of the valid
        training depths (the overall mean where a pixel is never valid) and
        the scale to their standard deviation."""
        self._check_depth_shape(targets.shape)
        prior = depth_prior(targets)
        self.depth_offset.assign(prior["per_pixel"].astype("float32"))
        self.depth_scale.assign(max(prior["std"], 1e-3))

    def compile(self, optimizer="adamw", loss="auto", metrics="auto", **kwargs):
        """Defaults: AdamW, `MaskedDepthL2`, `AbsRel`."""
        if loss == "auto":
            loss = MaskedDepthL2()
        if metrics == "auto":
            metrics = [AbsRel()]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        return dict(
            self._base_config(),
            depth_shape=self.depth_shape,
            output_patch_size=self.output_patch_size,
        )
