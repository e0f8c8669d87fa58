import keras
from keras import ops

from keras_layerlock.layers.cross_attention_readout import CrossAttentionReadout
from keras_layerlock.models.readout.frozen_feature_readout import FrozenFeatureReadout


@keras.saving.register_keras_serializable(package="keras_layerlock")
class ReadoutClassifier(FrozenFeatureReadout):
    """Video classification by a cross-attention readout on frozen features.

    The 4DS / LayerLock classification protocol: one learned query attends
    to the frozen features of one backbone depth (see
    `CrossAttentionReadout`) and a linear head gives the class logits.

    Args:
        num_classes: int.
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
    backbone = keras_layerlock.VideoViTBackbone.from_preset("video_vit_tiny")
    classifier = keras_layerlock.ReadoutClassifier(8, backbone=backbone,
                                                   feature_layer=3)
    classifier.compile()  # AdamW, sparse cross-entropy on logits, accuracy
    classifier.fit(train_ds, validation_data=val_ds, epochs=3)
    ```
    """

    def __init__(
        self,
        num_classes,
        backbone=None,
        feature_layer=None,
        feature_dim=None,
        freeze_backbone=True,
        readout_hidden_dim=256,
        readout_num_heads=8,
        **kwargs,
    ):
        kwargs.setdefault("name", "readout_classifier")
        readout = CrossAttentionReadout(
            1, int(num_classes), readout_hidden_dim, readout_num_heads, name="readout"
        )
        super().__init__(
            readout, backbone, feature_layer, feature_dim, freeze_backbone, **kwargs
        )
        self.num_classes = int(num_classes)

    def call(self, inputs, training=False):
        return self.readout(self.features(inputs, training), training=training)[:, 0]

    def compile(self, optimizer="adamw", loss="auto", metrics="auto", **kwargs):
        """Defaults: AdamW, sparse cross-entropy on logits, accuracy."""
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def predict_multi_clip(self, clips, batch_size=32):
        """Softmax averaged over the clips of each video (Kinetics-style).

        Args:
            clips: `(num_videos, num_clips, ...)` inputs (e.g. the 7 evenly
                spaced test clips of `VideoClipSampler`).

        Returns:
            NumPy `(num_videos, num_classes)` averaged probabilities.
        """
        shape = tuple(clips.shape)
        if len(shape) < 3:
            raise ValueError(
                f"Expected clips of shape (num_videos, num_clips, ...); received {shape}."
            )
        flat = ops.reshape(clips, (shape[0] * shape[1],) + shape[2:])
        logits = self.predict(flat, batch_size=batch_size, verbose=0)
        probabilities = ops.softmax(ops.reshape(logits, (shape[0], shape[1], -1)), axis=-1)
        return ops.convert_to_numpy(ops.mean(probabilities, axis=1))

    def get_config(self):
        return dict(self._base_config(), num_classes=self.num_classes)
