import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_layerlock")
class FeatureStandardization(keras.layers.Layer):
    """Standardises frozen token features with statistics of training data.

    Frozen ViT tokens are dominated by a component shared by every clip
    that depends only on the token's position (for a tiny RoPE backbone it
    is about 99 % of each token), which a readout's per-token LayerNorm does
    not remove. This layer subtracts the training features' mean and
    divides by their standard deviation, per token position and channel
    (`mode="token"`, the default) or per channel over all positions
    (`mode="channel"`). The statistics are weights of the layer, so a saved
    readout applies them, and the layer refuses to run before `adapt` has
    seen data (a readout trained on unscaled features would fail silently).

    Args:
        mode: `"token"` or `"channel"`.
        epsilon: float added to the variance.
        **kwargs: base layer arguments.

    Call arguments:
        features: `(B, num_tokens, D)`.

    Example:
    ```python
    norm = FeatureStandardization()
    norm.adapt(train_features)           # (n, num_tokens, D) NumPy array
    standardized = norm(train_features[:8])
    ```
    """

    def __init__(self, mode="token", epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("token", "channel"):
            raise ValueError(f"`mode` must be 'token' or 'channel'; received {mode!r}.")
        self.mode = mode
        self.epsilon = float(epsilon)

    def build(self, features_shape):
        if len(features_shape) != 3 or features_shape[-1] is None:
            raise ValueError(
                "FeatureStandardization expects features (batch, num_tokens, dim) with "
                f"a known dim; received shape {tuple(features_shape)}."
            )
        if self.mode == "token" and features_shape[1] is None:
            raise ValueError(
                "mode='token' keeps statistics per token position, so the number of "
                f"tokens must be known; received shape {tuple(features_shape)}. Use "
                "mode='channel' for a variable number of tokens."
            )
        shape = tuple(features_shape[1:]) if self.mode == "token" else (features_shape[-1],)
        self.mean = self.add_weight(name="mean", shape=shape, initializer="zeros",
                                    trainable=False)
        self.variance = self.add_weight(name="variance", shape=shape, initializer="ones",
                                        trainable=False)
        self.num_examples = self.add_weight(name="num_examples", shape=(),
                                            initializer="zeros", trainable=False)
        self.built = True

    @property
    def is_adapted(self):
        return self.built and float(ops.convert_to_numpy(self.num_examples)) > 0

    def adapt(self, features, batch_size=256):
        """Sets the statistics from features `(n, num_tokens, D)` (NumPy or tensor)."""
        features = np.asarray(ops.convert_to_numpy(features) if not isinstance(
            features, np.ndarray) else features)
        if features.ndim != 3 or len(features) == 0:
            raise ValueError(
                "`adapt` expects a non-empty array of features (n, num_tokens, dim); "
                f"received shape {features.shape}."
            )
        if not self.built:
            self.build((None,) + features.shape[1:])
        axes = (0,) if self.mode == "token" else (0, 1)
        # Two passes in float64 batches: exact and memory-bounded.
        total, count = 0.0, 0
        for start in range(0, len(features), batch_size):
            chunk = features[start:start + batch_size].astype("float64")
            total = total + chunk.sum(axis=axes)
            count += chunk.size // chunk.shape[-1] if self.mode == "channel" else len(chunk)
        mean = total / count
        squares = 0.0
        for start in range(0, len(features), batch_size):
            chunk = features[start:start + batch_size].astype("float64") - mean
            squares = squares + (chunk * chunk).sum(axis=axes)
        variance = squares / count
        if not np.all(np.isfinite(mean)) or not np.all(np.isfinite(variance)):
            raise ValueError("`adapt` received features with NaN or infinite values.")
        expected = tuple(self.mean.shape)
        if mean.shape != expected:
            raise ValueError(
                f"Features of shape {features.shape} do not match this layer's "
                f"statistics of shape {expected} (built for other features)."
            )
        self.mean.assign(mean.astype("float32"))
        self.variance.assign(variance.astype("float32"))
        self.num_examples.assign(float(len(features)))

    def call(self, features):
        mean = ops.cast(self.mean, self.compute_dtype)
        scale = ops.rsqrt(ops.cast(self.variance, self.compute_dtype) + self.epsilon)
        return (features - mean) * scale

    def compute_output_shape(self, features_shape):
        return features_shape

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "epsilon": self.epsilon})
        return config
