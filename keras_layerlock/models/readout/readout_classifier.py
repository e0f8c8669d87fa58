import keras
from keras import ops

from keras_layerlock.models.class_index_labels import ClassIndexLabels
from keras_layerlock.models.readout.frozen_feature_readout import FrozenFeatureReadout
from keras_layerlock.utils.argument_validation import require_integer


@keras.saving.register_keras_serializable(package="keras_layerlock")
class ReadoutClassifier(ClassIndexLabels, FrozenFeatureReadout):
    """Video classification by a cross-attention readout on frozen features.

    The 4DS / LayerLock classification protocol: one learned query attends
    to the frozen features of one backbone depth (see
    `CrossAttentionReadout`) and a linear head gives the class logits.

    Args:
        num_classes: int.
        backbone: optional `VideoViTBackbone`; without one the inputs are
            features `(B, num_tokens, D)`.
        feature_layer: int. Backbone depth read out; defaults to the last.
        **kwargs: the readout options of `FrozenFeatureReadout`
            (`feature_dim`, `num_tokens`, `token_grid`, `pooled_grid`,
            `feature_normalization`, `readout_type`, `readout_hidden_dim`,
            `readout_num_heads`, `readout_dropout`, `freeze_backbone`) and
            base `keras.Model` arguments.

    Example:
    ```python
    backbone = keras_layerlock.VideoViTBackbone.from_preset("video_vit_tiny")
    classifier = keras_layerlock.ReadoutClassifier(8, backbone=backbone,
                                                   feature_layer=3)
    classifier.adapt(train_videos)  # feature statistics, kept in the model
    classifier.compile()  # AdamW, sparse cross-entropy on logits, accuracy
    classifier.fit(train_videos, train_labels, epochs=3)
    ```
    """

    def __init__(self, num_classes, backbone=None, feature_layer=None, **kwargs):
        kwargs.setdefault("name", "readout_classifier")
        num_classes = require_integer(num_classes, "num_classes", minimum=2)
        super().__init__(1, num_classes, backbone, feature_layer, **kwargs)
        self.num_classes = num_classes

    def call(self, inputs, training=False):
        return self.readout(self.features(inputs, training), training=training)[:, 0]

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
