import keras
from keras import ops

from keras_layerlock.callbacks.fit_defaults import with_fit_defaults
from keras_layerlock.models.class_index_labels import ClassIndexLabels
from keras_layerlock.models.keras_hub_task import KerasHubTask
from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone
from keras_layerlock.utils.argument_validation import require_integer
from keras_layerlock.utils.video_input_checks import check_video_array

POOLINGS = ("mean", "class_token")


@keras.saving.register_keras_serializable(package="keras_layerlock")
class VideoClassifier(ClassIndexLabels, KerasHubTask):
    """A video ViT with a classification head, trained end to end.

    The fine-tuning head of VideoMAE (Tong et al., 2022, `modeling_finetune.py`)
    and of keras-hub's `ImageClassifier`: the last layer's tokens are pooled
    (the mean of the patch tokens, or the class token), optionally
    layer-normalised (VideoMAE's `fc_norm`), dropped out, and mapped to
    class logits by one dense layer. `keras_layerlock.converters` loads
    fine-tuned VideoMAE checkpoints into it (`component="classifier"`).
    For classification on frozen features, use `ReadoutClassifier`.

    Args:
        backbone: a `VideoViTBackbone` (trainable; freeze it yourself for a
            linear probe).
        num_classes: int (at least 2).
        pooling: `"mean"` (default) over the patch tokens, or
            `"class_token"` (the backbone needs `use_class_token=True`).
        use_pooled_norm: bool. LayerNorm on the pooled features (VideoMAE's
            `fc_norm`); defaults to True.
        layer_norm_epsilon: float; defaults to the backbone's.
        dropout: float. Dropout before the head during training.
        **kwargs: base `keras.Model` arguments.

    Call arguments:
        inputs: videos `(B, T, H, W, C)` in [0, 1] (or images, if the
            backbone takes them).

    Returns:
        Logits `(B, num_classes)`.

    Example:
    ```python
    backbone = keras_layerlock.VideoViTBackbone.from_preset("video_vit_micro")
    classifier = keras_layerlock.VideoClassifier(backbone, num_classes=5)
    classifier.compile()  # AdamW, sparse cross-entropy on logits, accuracy
    classifier.fit(videos, labels, epochs=2)
    ```
    """

    backbone_cls = VideoViTBackbone

    def __init__(self, backbone, num_classes, pooling="mean", use_pooled_norm=True,
                 layer_norm_epsilon=None, dropout=0.0, **kwargs):
        kwargs.setdefault("name", "video_classifier")
        super().__init__(**kwargs)
        if isinstance(backbone, dict):
            backbone = keras.layers.deserialize(backbone)
        if not isinstance(backbone, VideoViTBackbone):
            raise ValueError(
                f"`backbone` must be a VideoViTBackbone; received {type(backbone).__name__}.")
        if pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}; received {pooling!r}.")
        if pooling == "class_token" and not backbone.use_class_token:
            raise ValueError("`pooling='class_token'` needs a backbone built with "
                             "`use_class_token=True`; this one has no class token. Use "
                             "`pooling='mean'`.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1); received {dropout!r}.")
        self.backbone = backbone
        self.num_classes = require_integer(num_classes, "num_classes", minimum=2)
        self.pooling = pooling
        self.use_pooled_norm = bool(use_pooled_norm)
        self.layer_norm_epsilon = float(
            backbone.layer_norm_epsilon if layer_norm_epsilon is None else layer_norm_epsilon)
        self.dropout = float(dropout)
        policy = self.dtype_policy
        self.pooled_norm = None
        if self.use_pooled_norm:
            self.pooled_norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, dtype=policy, name="pooled_norm")
            self.pooled_norm.build((None, backbone.hidden_dim))
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=policy, name="dropout")
        self.head = keras.layers.Dense(self.num_classes, dtype=policy, name="head")
        self.head.build((None, backbone.hidden_dim))
        # Every weight exists now, so presets and checkpoints load into it.
        self.built = True

    def pooled_features(self, inputs, training=False):
        """The pooled (and normalised) last-layer features `(B, hidden_dim)`."""
        if self.pooling == "class_token":
            _, class_tokens = self.backbone.forward_intermediates(
                inputs, -1, training=training, return_class_token=True)
            pooled = class_tokens[0]
        else:
            pooled = ops.mean(self.backbone.forward_intermediates(inputs, -1, training=training)[0],
                              axis=1)
        return pooled if self.pooled_norm is None else self.pooled_norm(pooled)

    def call(self, inputs, training=False):
        pooled = self.dropout_layer(self.pooled_features(inputs, training), training=training)
        return self.head(pooled)

    def fit(self, *args, **kwargs):
        """`keras.Model.fit` after checking NumPy videos and labels, with a
        `NonFiniteGuard` unless `callbacks` holds one."""
        x = self._check_numpy_inputs(args, kwargs)
        if len(args) <= 5:  # `callbacks` is fit's sixth positional argument
            kwargs = with_fit_defaults(x, kwargs)
        return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        """`keras.Model.evaluate` after the NumPy checks of `fit` (an
        out-of-range label would otherwise give a NaN loss and a
        meaningless accuracy)."""
        self._check_numpy_inputs(args, kwargs)
        return super().evaluate(*args, **kwargs)

    def _check_numpy_inputs(self, args, kwargs):
        """Checks `x` and `y` of `fit` / `evaluate` (given by position or
        name) and returns `x`."""
        x = args[0] if args else kwargs.get("x")
        check_video_array(x, "x")
        self.check_targets(args[1] if len(args) > 1 else kwargs.get("y"))
        return x

    def get_config(self):
        return {
            "backbone": keras.layers.serialize(self.backbone),
            "num_classes": self.num_classes,
            "pooling": self.pooling,
            "use_pooled_norm": self.use_pooled_norm,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "dropout": self.dropout,
            "name": self.name,
        }
