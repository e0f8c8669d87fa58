import math

import keras

from keras_layerlock.layers.cross_attention_readout import CrossAttentionReadout
from keras_layerlock.models.readout.depth_losses import AbsRel
from keras_layerlock.models.readout.depth_losses import MaskedDepthL2
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
        feature_dim: int. Feature width without a backbone (builds the
            readout at once).
        freeze_backbone: bool. False fine-tunes the backbone too.
        readout_hidden_dim: int; defaults to 256.
        readout_num_heads: int; defaults to 8.
        **kwargs: base `keras.Model` arguments.

    Example:
    ```python
    estimator = keras_layerlock.ReadoutDepthEstimator((8, 32, 32),
                                                      backbone=backbone)
    estimator.compile()  # AdamW, MaskedDepthL2, AbsRel
    estimator.fit(videos, depths, epochs=3)
    ```
    """

    def __init__(
        self,
        depth_shape,
        output_patch_size=(2, 8, 8),
        backbone=None,
        feature_layer=None,
        feature_dim=None,
        freeze_backbone=True,
        readout_hidden_dim=256,
        readout_num_heads=8,
        **kwargs,
    ):
        kwargs.setdefault("name", "readout_depth_estimator")
        depth_shape = tuple(int(d) for d in depth_shape)
        patch = normalize_patch_size(output_patch_size)
        if len(depth_shape) != 3 or any(d % p for d, p in zip(depth_shape, patch)):
            raise ValueError(
                f"`depth_shape` must be (T, H, W) divisible by the output patch {patch}; "
                f"received {depth_shape}."
            )
        grid = tuple(d // p for d, p in zip(depth_shape, patch))
        readout = CrossAttentionReadout(
            math.prod(grid), math.prod(patch), readout_hidden_dim, readout_num_heads,
            name="readout",
        )
        super().__init__(
            readout, backbone, feature_layer, feature_dim, freeze_backbone, **kwargs
        )
        self.depth_shape = depth_shape
        self.output_patch_size = patch
        self.grid = grid

    def call(self, inputs, training=False):
        patches = self.readout(self.features(inputs, training), training=training)
        depth = unpatchify(patches, self.grid, self.output_patch_size, num_channels=1)
        return depth[..., 0]

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
