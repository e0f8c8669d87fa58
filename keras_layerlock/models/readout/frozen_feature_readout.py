import math

import keras
import keras_hub
import numpy as np
from keras import ops

from keras_layerlock.callbacks.fit_defaults import with_fit_defaults
from keras_layerlock.layers.cross_attention_readout import CrossAttentionReadout
from keras_layerlock.layers.feature_standardization import FeatureStandardization
from keras_layerlock.layers.linear_readout import LinearReadout
from keras_layerlock.layers.token_grid_pooling import TokenGridPooling
from keras_layerlock.models.keras_hub_task import KerasHubTask
from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone
from keras_layerlock.utils.argument_validation import require_integer
from keras_layerlock.utils.video_input_checks import check_video_array

READOUT_TYPES = ("cross_attention", "linear")
FEATURE_NORMALIZATIONS = ("token", "channel", None)


class FrozenFeatureReadout(KerasHubTask):
    """Base of the readout task models: a readout on frozen features.

    With a `backbone`, inputs are videos: the frozen backbone computes the
    features of block `feature_layer` (only the blocks up to it run) and the
    readout trains on them. Without one, inputs are those features
    `(B, num_tokens, D)` directly — the fast path of the readout sweep,
    which computes them once per clip.

    Between the features and the readout: optional pooling of the tokens to
    a coarse grid (`pooled_grid`, the fast probe path), then standardisation
    with statistics of the training features (`feature_normalization`; see
    `FeatureStandardization`). The statistics are weights of the model, set
    by `adapt(training_inputs)` before `fit` (which refuses to train on
    unadapted statistics), so a saved readout applies them.

    Example:
    ```python
    # Subclasses: ReadoutClassifier, ReadoutDepthEstimator.
    classifier = ReadoutClassifier(8, backbone=backbone, feature_layer=3)
    classifier.adapt(train_videos)
    classifier.compile()
    classifier.fit(train_videos, train_labels, epochs=3)
    ```

    Args:
        num_queries: int. Readout queries (1 for classification).
        output_dim: int. Outputs per query.
        backbone: optional `VideoViTBackbone` (frozen here).
        feature_layer: int. Backbone depth of the features (0 = embeddings);
            defaults to the last block. Ignored without a backbone.
        feature_dim: int. Width of input features without a backbone.
        num_tokens: int. Number of input tokens without a backbone (needed
            by `feature_normalization="token"` and the linear readout;
            `adapt` sets it when it is not given).
        token_grid: `(T, H, W)` token grid of input features without a
            backbone; needed by `pooled_grid`.
        pooled_grid: optional `(t, h, w)`: average-pool the tokens to this
            grid before the readout.
        feature_normalization: `"token"` (default: per token position and
            channel), `"channel"`, or None. With `"token"` the
            cross-attention readout adds a learned embedding per token
            position, since the standardisation removes the positional
            part of the features.
        readout_type: `"cross_attention"` (default: the 4DS readout) or
            `"linear"` (`LinearReadout`).
        readout_hidden_dim, readout_num_heads, readout_dropout: of the
            cross-attention readout.
        freeze_backbone: bool. True (default) for readouts on frozen
            features; False to fine-tune the backbone with the readout (use
            `LayerwiseDecayAdamW` for layer-wise learning-rate decay).
        **kwargs: base `keras.Model` arguments.
    """

    backbone_cls = VideoViTBackbone

    def __init__(self, num_queries, output_dim, backbone=None, feature_layer=None,
                 feature_dim=None, num_tokens=None, token_grid=None, pooled_grid=None,
                 feature_normalization="token", readout_type="cross_attention",
                 readout_hidden_dim=256, readout_num_heads=8, readout_dropout=0.0,
                 freeze_backbone=True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(backbone, dict):
            backbone = keras.layers.deserialize(backbone)
        if backbone is not None and not isinstance(backbone, VideoViTBackbone):
            raise ValueError(
                f"`backbone` must be a VideoViTBackbone or None; received {type(backbone).__name__}."
            )
        if readout_type not in READOUT_TYPES:
            raise ValueError(f"`readout_type` must be one of {READOUT_TYPES}; received {readout_type!r}.")
        if feature_normalization not in FEATURE_NORMALIZATIONS:
            raise ValueError(
                f"`feature_normalization` must be one of {FEATURE_NORMALIZATIONS}; "
                f"received {feature_normalization!r}."
            )
        self.backbone = backbone
        self.freeze_backbone = bool(freeze_backbone)
        if backbone is not None:
            backbone.trainable = not self.freeze_backbone
            feature_layer = backbone.num_layers if feature_layer is None else require_integer(
                feature_layer, "feature_layer", minimum=0, maximum=backbone.num_layers)
            feature_dim = backbone.hidden_dim
            token_grid = backbone.nominal_grid_shape
            num_tokens = math.prod(token_grid)
        elif feature_layer is not None:
            feature_layer = require_integer(feature_layer, "feature_layer", minimum=0)
        self.feature_layer = feature_layer
        self.feature_dim = None if feature_dim is None else int(feature_dim)
        self.token_grid = None if token_grid is None else tuple(int(g) for g in token_grid)
        if self.token_grid is not None and num_tokens is None:
            num_tokens = math.prod(self.token_grid)
        self.num_tokens = None if num_tokens is None else int(num_tokens)
        self.pooled_grid = None if pooled_grid is None else tuple(int(g) for g in pooled_grid)
        self.pooling = None
        if self.pooled_grid is not None:
            if self.token_grid is None:
                raise ValueError(
                    "`pooled_grid` needs the token grid: pass `token_grid=(T, H, W)` "
                    "with features, or a backbone."
                )
            self.pooling = TokenGridPooling(self.token_grid, self.pooled_grid, name="pooling")
        self.feature_normalization = feature_normalization
        self.feature_norm = (
            None if feature_normalization is None
            else FeatureStandardization(feature_normalization, name="feature_norm")
        )
        self.readout_type = readout_type
        self.readout_hidden_dim = int(readout_hidden_dim)
        self.readout_num_heads = int(readout_num_heads)
        self.readout_dropout = float(readout_dropout)
        if readout_type == "linear":
            self.readout = LinearReadout(num_queries, output_dim, name="readout")
        else:
            self.readout = CrossAttentionReadout(
                num_queries, output_dim, self.readout_hidden_dim, self.readout_num_heads,
                dropout=self.readout_dropout, name="readout",
            )
        self.position_embedding = None
        if self._readout_input_shape() is not None:
            self._build_head(self._readout_input_shape())

    def _readout_input_shape(self):
        """`(None, tokens, dim)` the readout sees, or None if not known yet."""
        if self.feature_dim is None:
            return None
        tokens = self.num_tokens
        if self.pooled_grid is not None:
            tokens = math.prod(self.pooled_grid)
        if tokens is None and (self.feature_normalization == "token"
                               or self.readout_type == "linear"):
            return None
        return (None, tokens, self.feature_dim)

    @property
    def _needs_position_embedding(self):
        # Per-position standardisation removes the component of each token
        # that only depends on its position, which is also what tells a
        # cross-attention readout (a set operation) where a token is; a
        # learned embedding per position gives that back.
        return self.readout_type == "cross_attention" and self.feature_normalization == "token"

    def _build_head(self, shape):
        if self.feature_norm is not None and not self.feature_norm.built:
            self.feature_norm.build(shape)
        if self._needs_position_embedding and self.position_embedding is None:
            # A sub-layer, not a weight of the model: saved by name, so a
            # model built lazily and one built in `__init__` load alike.
            self.position_embedding = keras_hub.layers.PositionEmbedding(
                int(shape[1]), initializer=keras.initializers.RandomNormal(stddev=1.0),
                name="position_embedding")
            self.position_embedding.build(shape)
        if not self.readout.built:
            self.readout.build(shape)
        self.built = True

    def build(self, input_shape):
        if self.backbone is None:
            self.feature_dim = self.feature_dim or int(input_shape[-1])
            self.num_tokens = self.num_tokens or input_shape[1]
        shape = self._readout_input_shape()
        if shape is None:
            raise ValueError(
                f"Cannot build the readout for inputs of shape {tuple(input_shape)}: "
                "the number of tokens must be known."
            )
        self._build_head(shape)

    def backbone_features(self, inputs, training=False):
        """Backbone features of `inputs` (videos with a backbone, else as is)."""
        if self.backbone is None:
            if len(inputs.shape) != 3:
                raise ValueError(
                    "Without a backbone the inputs are features (batch, num_tokens, dim); "
                    f"received shape {tuple(inputs.shape)}."
                )
            return inputs
        training = training and not self.freeze_backbone
        tokens, positions = self.backbone.embed(inputs, training=training)
        if self.feature_layer > 0:
            tokens = self.backbone.patch_tokens(self.backbone.encode(
                tokens, positions, 0, self.feature_layer, training=training
            )[-1])
        return ops.stop_gradient(tokens) if self.freeze_backbone else tokens

    def pooled_features(self, inputs, training=False):
        features = self.backbone_features(inputs, training)
        return self.pooling(features) if self.pooling is not None else features

    def features(self, inputs, training=False):
        """What the readout reads: pooled and standardised features."""
        features = self.pooled_features(inputs, training)
        if self.feature_norm is not None:
            features = self.feature_norm(features)
        if self.position_embedding is not None:
            features = features + ops.cast(self.position_embedding(features), features.dtype)
        return features

    def adapt(self, inputs, targets=None, batch_size=64):
        """Sets the statistics of training data that the model keeps.

        Args:
            inputs: the training inputs (videos with a backbone, else
                features `(n, num_tokens, D)`), a NumPy array.
            targets: optional training targets; task models that scale
                their outputs (depth in metres) take their scale from them.
            batch_size: int. Inputs per forward pass.
        """
        if targets is not None:
            self.adapt_targets(np.asarray(targets))
        if self.feature_norm is None:
            return
        inputs = np.asarray(inputs)
        if len(inputs) == 0:
            raise ValueError("`adapt` received no inputs.")
        if self.backbone is not None:
            check_video_array(inputs, "inputs")
        parts = []
        for start in range(0, len(inputs), batch_size):
            batch = ops.convert_to_tensor(inputs[start:start + batch_size].astype("float32"))
            parts.append(ops.convert_to_numpy(self.pooled_features(batch)))
        features = np.concatenate(parts)
        if self.backbone is None:
            if self.feature_dim is not None and features.shape[-1] != self.feature_dim:
                raise ValueError(
                    f"Features of width {features.shape[-1]} do not match this readout's "
                    f"feature_dim={self.feature_dim}."
                )
            self.feature_dim = int(features.shape[-1])
            if self.num_tokens is None:
                self.num_tokens = int(inputs.shape[1])
            self._build_head((None,) + features.shape[1:])
        self.feature_norm.adapt(features)

    def adapt_targets(self, targets):
        """Hook for task models whose outputs take a scale from the targets."""

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, after checking NumPy inputs and targets, with a
        `NonFiniteGuard` added unless `callbacks` holds one (and, for a
        dataset that shuffles itself, a `DatasetEpochSync`)."""
        if self.feature_norm is not None and not self.feature_norm.is_adapted:
            raise ValueError(
                f"{type(self).__name__} standardises its features with statistics of the "
                "training features, which are not set. Call `model.adapt(train_inputs)` "
                "before `fit`, or pass `feature_normalization=None`."
            )
        self._check_arrays(args, kwargs)
        if len(args) <= 5:  # `callbacks` is fit's sixth positional argument
            kwargs = with_fit_defaults(args[0] if args else kwargs.get("x"), kwargs)
        return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        self._check_arrays(args, kwargs)
        return super().evaluate(*args, **kwargs)

    def _check_arrays(self, args, kwargs):
        """The NumPy `x` (videos, with a backbone) and `y` of `fit` / `evaluate`."""
        if self.backbone is not None:
            check_video_array(args[0] if args else kwargs.get("x"), "x")
        self.check_targets(args[1] if len(args) > 1 else kwargs.get("y"))

    def check_targets(self, targets):
        """Hook: task models refuse NumPy targets they cannot train on."""

    def save_to_preset(self, preset_dir, max_shard_size=10):
        """keras-hub's `Task.save_to_preset` (backbone, `task.json`,
        `task.weights.h5`); `from_preset` reloads it. A readout on cached
        features has no backbone to save: use `model.save("x.keras")`."""
        if self.backbone is None:
            raise ValueError(
                f"This {type(self).__name__} reads cached features and has no backbone, "
                "which a keras-hub preset is built around. Save it with "
                "`model.save('readout.keras')`, or build it with `backbone=...`."
            )
        super().save_to_preset(preset_dir, max_shard_size=max_shard_size)

    def _base_config(self):
        return {
            "backbone": None if self.backbone is None else keras.layers.serialize(self.backbone),
            "feature_layer": self.feature_layer,
            "feature_dim": None if self.backbone is not None else self.feature_dim,
            "num_tokens": None if self.backbone is not None else self.num_tokens,
            "token_grid": None if self.backbone is not None else self.token_grid,
            "pooled_grid": self.pooled_grid,
            "feature_normalization": self.feature_normalization,
            "readout_type": self.readout_type,
            "readout_hidden_dim": self.readout_hidden_dim,
            "readout_num_heads": self.readout_num_heads,
            "readout_dropout": self.readout_dropout,
            "freeze_backbone": self.freeze_backbone,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        # `__init__` deserializes a backbone config itself.
        return cls(**config)
