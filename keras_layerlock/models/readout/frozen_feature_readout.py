import keras
from keras import ops

from keras_layerlock.layers.cross_attention_readout import CrossAttentionReadout
from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone


class FrozenFeatureReadout(keras.Model):
    """Base of the readout task models: a readout on frozen features.

    With a `backbone`, inputs are videos: the frozen backbone computes the
    features of block `feature_layer` (only the blocks up to it run) and the
    readout trains on them. Without one, inputs are those features
    `(B, num_tokens, D)` directly — the fast path of the readout sweep,
    which computes them once per clip.

    Example:
    ```python
    # Subclasses: ReadoutClassifier, ReadoutDepthEstimator.
    classifier = ReadoutClassifier(8, backbone=backbone, feature_layer=3)
    ```

    Args:
        readout: a `CrossAttentionReadout`.
        backbone: optional `VideoViTBackbone` (frozen here).
        feature_layer: int. Backbone depth of the features (0 = embeddings);
            defaults to the last block. Ignored without a backbone.
        freeze_backbone: bool. True (default) for readouts on frozen
            features; False to fine-tune the backbone with the readout (use
            `LayerwiseDecayAdamW` for layer-wise learning-rate decay).
        feature_dim: int. Width of input features without a backbone; when
            known (always with a backbone) the readout is built at once, so
            the model saves and loads before its first call.
        **kwargs: base `keras.Model` arguments.
    """

    def __init__(self, readout, backbone=None, feature_layer=None, feature_dim=None,
                 freeze_backbone=True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(backbone, dict):
            backbone = keras.layers.deserialize(backbone)
        if backbone is not None and not isinstance(backbone, VideoViTBackbone):
            raise ValueError(
                f"`backbone` must be a VideoViTBackbone or None; received {type(backbone).__name__}."
            )
        self.backbone = backbone
        self.freeze_backbone = bool(freeze_backbone)
        if backbone is not None:
            backbone.trainable = not self.freeze_backbone
            feature_layer = backbone.num_layers if feature_layer is None else int(feature_layer)
            if not 0 <= feature_layer <= backbone.num_layers:
                raise ValueError(
                    f"`feature_layer` must be in [0, {backbone.num_layers}]; received {feature_layer}."
                )
            feature_dim = backbone.hidden_dim
        self.feature_layer = feature_layer
        self.feature_dim = None if feature_dim is None else int(feature_dim)
        self.readout = readout
        if self.feature_dim is not None:
            readout.build((None, None, self.feature_dim))
            self.built = True

    def features(self, inputs, training=False):
        """Features of `inputs` (videos with a backbone, else as is)."""
        if self.backbone is None:
            return inputs
        training = training and not self.freeze_backbone
        tokens, positions = self.backbone.embed(inputs, training=training)
        if self.feature_layer > 0:
            tokens = self.backbone.encode(
                tokens, positions, 0, self.feature_layer, training=training
            )[-1]
        return ops.stop_gradient(tokens) if self.freeze_backbone else tokens

    def _base_config(self):
        return {
            "backbone": None if self.backbone is None else keras.layers.serialize(self.backbone),
            "feature_layer": self.feature_layer,
            "feature_dim": None if self.backbone is not None else self.feature_dim,
            "freeze_backbone": self.freeze_backbone,
            "readout_hidden_dim": self.readout.hidden_dim,
            "readout_num_heads": self.readout.num_heads,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        # `__init__` deserializes a backbone config itself.
        return cls(**config)
