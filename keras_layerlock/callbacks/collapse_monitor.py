import warnings

import keras
import numpy as np

from keras_layerlock.evaluation.feature_extraction import extract_features
from keras_layerlock.metrics.feature_collapse import feature_collapse_statistics


class CollapseMonitor(keras.callbacks.Callback):
    """Logs collapse statistics of the encoder's features every epoch.

    Representation collapse (all clips mapped to nearly the same features)
    is the failure mode of latent-prediction objectives: V-JEPA without its
    EMA teacher, or an MAE with a latent loss on its own activations
    (LayerLock, Erdogan et al. 2025, Sec. 4). At the end of every epoch this
    callback runs the model's backbone on a fixed probe set, takes the
    features of block `layer` (mean-pooled over tokens, or every token),
    and adds to the `fit` logs (progress bar, `CSVLogger`, TensorBoard,
    `History`):

    - `feature_std`: spread of the L2-normalised features per dimension
      (0 when collapsed, about `1 / sqrt(d)` when spread out);
    - `effective_rank`: exp-entropy of the normalised singular values.

    A model with a `project(images)` method (`MSBReg`, `BYOL`: any image
    backbone, no token depth) is measured on what it returns, its online
    projections, instead of backbone features; `layer` and `pooling` do
    not apply to it.

    It warns when the effective rank falls below `min_rank_fraction` of
    its maximum, or below `(1 - max_relative_drop)` of the best value seen
    in this run (and likewise for `feature_std`). Place it before
    `CSVLogger` / `TensorBoard` in the callback list so they see the values.

    Args:
        probe_videos: array `(n, T, H, W, C)`, n >= 2 (a few hundred clips
            the model never trains on are plenty).
        layer: int. Backbone depth of the features (0 = embeddings); None
            means the model's `num_encoder_layers` (the encoder output).
        pooling: `"mean"` (one vector per clip) or `"tokens"`.
        batch_size: int.
        min_rank_fraction: float; defaults to 0.05.
        max_relative_drop: float; defaults to 0.5.
        verbose: int.

    Example:
    ```python
    monitor = CollapseMonitor(probe_videos, pooling="mean")
    history = model.fit(videos, epochs=10, callbacks=[monitor])
    history.history["effective_rank"]
    ```
    """

    def __init__(
        self,
        probe_videos,
        layer=None,
        pooling="mean",
        batch_size=32,
        min_rank_fraction=0.05,
        max_relative_drop=0.5,
        verbose=1,
    ):
        super().__init__()
        probe_videos = np.asarray(probe_videos)
        if probe_videos.ndim not in (4, 5) or len(probe_videos) < 2:
            raise ValueError(
                "`probe_videos` must be an array of at least 2 clips (n, T, H, W, C) "
                f"or images (n, H, W, C); received shape {probe_videos.shape}."
            )
        if pooling not in ("mean", "tokens"):
            raise ValueError(f"`pooling` must be 'mean' or 'tokens'; received {pooling!r}.")
        self.probe_videos = probe_videos
        self.layer = layer
        self.pooling = pooling
        self.batch_size = int(batch_size)
        self.min_rank_fraction = float(min_rank_fraction)
        self.max_relative_drop = float(max_relative_drop)
        self.verbose = verbose
        self.history = []
        self._best = {}

    def features(self, model):
        """Probe features of `model`'s backbone at the monitored depth, or
        its projections when it has a `project` method."""
        if callable(getattr(model, "project", None)):
            return np.concatenate([
                keras.ops.convert_to_numpy(model.project(
                    self.probe_videos[i:i + self.batch_size]))
                for i in range(0, len(self.probe_videos), self.batch_size)
            ])
        layer = self.layer if self.layer is not None else getattr(
            model, "num_encoder_layers", model.backbone.num_layers
        )
        return extract_features(
            model.backbone, self.probe_videos, layer, self.pooling, self.batch_size
        )

    def measure(self, model):
        """Collapse statistics (Python floats) of `model` now."""
        stats = feature_collapse_statistics(self.features(model))
        return {k: float(keras.ops.convert_to_numpy(v)) for k, v in stats.items()}

    def on_epoch_end(self, epoch, logs=None):
        stats = self.measure(self.model)
        self.history.append(dict(stats, epoch=epoch))
        if logs is not None:
            logs["feature_std"] = stats["feature_std"]
            logs["effective_rank"] = stats["effective_rank"]
        problems = []
        if stats["effective_rank_fraction"] < self.min_rank_fraction:
            problems.append(
                f"effective rank {stats['effective_rank']:.2f} is below "
                f"{self.min_rank_fraction:.0%} of its maximum"
            )
        for key in ("effective_rank", "feature_std"):
            best = max(self._best.get(key, 0.0), stats[key])
            self._best[key] = best
            if stats[key] < (1.0 - self.max_relative_drop) * best:
                problems.append(
                    f"{key} fell to {stats[key]:.4g} from a best of {best:.4g} in this run"
                )
        if problems:
            warnings.warn(
                f"Epoch {epoch + 1}: the features may be collapsing: "
                + "; ".join(problems)
                + ". Freezing (LayerLock), an EMA teacher or a lower latent-loss "
                "weight are the usual remedies.",
                stacklevel=2,
            )
