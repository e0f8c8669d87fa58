import itertools
import time
import warnings

import keras
import numpy as np

from keras_layerlock.evaluation.bootstrap import bootstrap_interval
from keras_layerlock.evaluation.feature_extraction import layer_features_in_batches
from keras_layerlock.evaluation.readout_learning_rate import ReadoutLearningRate
from keras_layerlock.losses.masked_depth_l2 import DEPTH_VALID_MAX
from keras_layerlock.losses.masked_depth_l2 import DEPTH_VALID_MIN
from keras_layerlock.models.readout.readout_classifier import ReadoutClassifier
from keras_layerlock.models.readout.readout_depth_estimator import ReadoutDepthEstimator

# LayerLock / 4DS readout sweep (LayerLock supplementary, "Readouts").
SWEEP_LEARNING_RATES = (1e-4, 3e-4, 1e-3)
SWEEP_LAYER_FRACTIONS = (0.25, 0.5, 0.75, 0.85, 0.95, 1.0)
TASK_KINDS = ("classification", "depth")


def feature_layer_at_fraction(fraction, num_layers):
    """Backbone block read out for a readout layer fraction (at least 1)."""
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"Layer fractions must be in (0, 1]; received {fraction}.")
    return max(1, min(num_layers, int(round(float(fraction) * num_layers))))


def compute_layer_features(backbone, videos, layers, batch_size=32, verbose=False):
    """Token features of several backbone blocks from one forward pass.

    Args:
        backbone: a `VideoViTBackbone`.
        videos: array `(n, T, H, W, C)`.
        layers: iterable of block indices (1-based).
        batch_size: int.
        verbose: bool. A progress bar.

    Returns:
        `{layer: float32 array (n, num_tokens, hidden_dim)}`.

    Example:
    ```python
    features = compute_layer_features(backbone, videos, layers=[2, 4])
    ```
    """
    layers = sorted({int(layer) for layer in layers})
    if not layers or layers[0] < 1 or layers[-1] > backbone.num_layers:
        raise ValueError(f"`layers` must be in [1, {backbone.num_layers}]; received {layers}.")
    return layer_features_in_batches(backbone, videos, layers, batch_size, verbose)


def compute_depth_features(*args, **kwargs):
    """Deprecated name of `compute_layer_features`."""
    warnings.warn("`compute_depth_features` is deprecated; use `compute_layer_features`.",
                  DeprecationWarning, stacklevel=2)
    return compute_layer_features(*args, **kwargs)


def depth_fraction_to_layer(fraction, num_layers):
    """Deprecated name of `feature_layer_at_fraction`."""
    warnings.warn("`depth_fraction_to_layer` is deprecated; use `feature_layer_at_fraction`.",
                  DeprecationWarning, stacklevel=2)
    return feature_layer_at_fraction(fraction, num_layers)


def renamed_argument(kwargs, old, new, value):
    """`value`, or the deprecated `kwargs[old]` (popped, with a warning)."""
    if old not in kwargs:
        return value
    warnings.warn(f"`{old}` is deprecated; pass `{new}`.", DeprecationWarning, stacklevel=3)
    return kwargs.pop(old)


def readout_learning_rate(learning_rate, num_steps, warmup_fraction=0.1):
    """The 4DS readout schedule scaled to any budget.

    Linear warm-up from 0 over the first `round(warmup_fraction *
    num_steps)` steps (at least 1), the peak `learning_rate` at the end of
    the warm-up, then cosine decay to 1e-7 at step `num_steps`. 4DS uses
    1,000 warm-up steps of its (much longer) runs; a fraction keeps the
    shape at short budgets, where a fixed warm-up would never finish.

    Args:
        learning_rate: float. Peak learning rate.
        num_steps: int. Steps of the whole run.
        warmup_fraction: float in [0, 1).

    Returns:
        A `ReadoutLearningRate`.
    """
    # `ReadoutLearningRate` checks the steps; the fraction is this function's own.
    if not 0.0 <= float(warmup_fraction) < 1.0:
        raise ValueError(
            f"Expected warmup_fraction in [0, 1); received warmup_fraction={warmup_fraction}."
        )
    # At least one warm-up step and one decaying step (a 2-step run with a
    # fraction of 0.9 still peaks, then decays).
    num_steps = int(num_steps)
    warmup_steps = (min(num_steps - 1, max(1, int(round(warmup_fraction * num_steps))))
                    if num_steps > 1 else 0)
    return ReadoutLearningRate(learning_rate, num_steps, warmup_steps, final_learning_rate=1e-7)


def per_clip_scores(task, predictions, targets):
    """Per-clip `(numerators, denominators)` of the task's metric.

    Classification: correctness (denominator 1), so the ratio of sums is
    the accuracy. Depth: the sum of `|d* - d| / d` over valid pixels and
    their count, so the ratio of sums is AbsRel over all valid pixels.
    """
    if task == "classification":
        correct = (np.argmax(predictions, axis=-1) == np.asarray(targets)).astype("float64")
        return correct, np.ones_like(correct)
    # Per-pixel terms in float32, sums in float64: the same AbsRel to
    # about 1e-7, in a third of the time (it runs twice per readout).
    targets = np.asarray(targets, "float32")
    valid = (targets > DEPTH_VALID_MIN) & (targets < DEPTH_VALID_MAX)
    relative = np.abs(np.asarray(predictions, "float32") - targets)
    relative /= np.where(valid, targets, np.float32(1.0))
    relative *= valid
    flat = relative.reshape(len(relative), -1)
    return flat.sum(axis=1, dtype="float64"), valid.reshape(len(valid), -1).sum(axis=1).astype("float64")


def build_readout(task, inputs_shape, num_classes=None, depth_shape=None, token_grid=None,
                  backbone=None, **readout_kwargs):
    """A readout task model for inputs of shape `inputs_shape`.

    Without a backbone the inputs are cached features `(n, num_tokens, D)`;
    with one they are videos and the backbone computes the features (frozen
    unless `freeze_backbone=False` is among `readout_kwargs`).
    """
    if task not in TASK_KINDS:
        raise ValueError(f"`task` must be one of {TASK_KINDS}; received {task!r}.")
    if backbone is None:
        common = dict(feature_dim=inputs_shape[-1], num_tokens=inputs_shape[1],
                      token_grid=token_grid, **readout_kwargs)
    else:
        common = dict(backbone=backbone, **readout_kwargs)
    if task == "classification":
        if num_classes is None:
            raise ValueError("Classification readouts need `num_classes`.")
        return ReadoutClassifier(num_classes, **common)
    if depth_shape is None:
        raise ValueError("Depth readouts need `depth_shape` (T, H, W).")
    return ReadoutDepthEstimator(depth_shape, **common)


def train_readout(task, train_inputs, train_targets, eval_inputs, eval_targets,
                  learning_rate, num_steps, batch_size=32, warmup_fraction=0.1,
                  weight_decay=1e-4, seed=0, backbone=None, train_data=None,
                  loss="auto", **readout_kwargs):
    """Trains one readout and scores it clip by clip.

    The feature statistics (and, for depth, the output scale) are adapted
    on the training data and kept in the returned model.

    Args:
        task: `"classification"` or `"depth"`.
        train_inputs, eval_inputs: cached features `(n, num_tokens, D)`,
            or videos when a `backbone` is given.
        train_targets, eval_targets: labels, or depth videos `(n, T, H, W)`.
        learning_rate, num_steps, batch_size, warmup_fraction: AdamW with
            `readout_learning_rate`.
        weight_decay: float.
        seed: int. Initialisation and batch order.
        backbone: optional `VideoViTBackbone`. With `freeze_backbone=False`
            it is trained with the readout (the supervised ceiling).
        train_data: optional `keras.utils.PyDataset` of `(inputs, targets)`
            batches to train on instead of `train_inputs` / `train_targets`
            (augmented clips); the feature statistics and the training
            metric still come from the arrays.
        loss: the readout's loss; `"auto"` is its default (cross-entropy,
            or `MaskedDepthL2` for depth).
        **readout_kwargs: `num_classes` or `depth_shape`, `token_grid`, and
            the `FrozenFeatureReadout` options (`pooled_grid`,
            `readout_type`, `feature_normalization`, `readout_hidden_dim`,
            `readout_num_heads`, `readout_dropout`, `freeze_backbone`).

    Returns:
        dict `metric` (accuracy or AbsRel on the evaluation clips),
        `train_metric` (on the training clips), `train_loss`, `seconds`,
        `numerators` / `denominators` (per evaluation clip, for
        `bootstrap_interval`) and `model`.
    """
    keras.utils.set_random_seed(seed)
    model = build_readout(task, train_inputs.shape, backbone=backbone, **readout_kwargs)
    model.adapt(train_inputs, train_targets, batch_size=512 if backbone is None else 64)
    # No training metrics: both scores come from `predict` below, and on
    # PyTorch a metric update per step costs as much as the linear probe's.
    model.compile(keras.optimizers.AdamW(
        readout_learning_rate(learning_rate, num_steps, warmup_fraction),
        weight_decay=weight_decay), loss=loss, metrics=[])
    if train_data is None:
        data = dict(x=train_inputs, y=train_targets, batch_size=batch_size)
        steps_per_epoch = max(1, len(train_inputs) // batch_size)
    else:
        data, steps_per_epoch = dict(x=train_data), len(train_data)
    start = time.perf_counter()
    history = model.fit(**data, epochs=-(-num_steps // steps_per_epoch),
                        steps_per_epoch=min(steps_per_epoch, num_steps), verbose=0)
    seconds = time.perf_counter() - start
    scores = {}
    for split, (inputs, targets) in {"eval": (eval_inputs, eval_targets),
                                     "train": (train_inputs, train_targets)}.items():
        predictions = model.predict(inputs, batch_size=256 if backbone is None else 64,
                                    verbose=0)
        scores[split] = per_clip_scores(task, predictions, targets)
    numerators, denominators = scores["eval"]
    train_num, train_den = scores["train"]
    return {
        "metric": float(numerators.sum() / max(denominators.sum(), 1e-12)),
        "train_metric": float(train_num.sum() / max(train_den.sum(), 1e-12)),
        "train_loss": float(history.history["loss"][-1]),
        "seconds": seconds,
        "numerators": numerators,
        "denominators": denominators,
        "model": model,
    }


def readout_sweep(task, train_features, train_targets, val_features, val_targets,
                  num_layers, learning_rates=SWEEP_LEARNING_RATES,
                  layer_fractions=SWEEP_LAYER_FRACTIONS, num_steps=1000, batch_size=32,
                  warmup_fraction=0.1, test_features=None, test_targets=None,
                  num_seeds=3, confidence=0.95, verbose=True, **readout_kwargs):
    """The LayerLock / 4DS readout sweep on cached frozen features.

    Trains one readout per (learning rate, readout layer fraction) with the
    4DS schedule (`readout_learning_rate`), keeps every result, and picks
    the best on the validation clips (highest accuracy, lowest AbsRel).
    Layer fractions that round to the same block share one run. With
    `test_features`, the chosen setting is then trained again with
    `num_seeds` seeds and scored on the test clips, which the selection
    never saw, with a bootstrap interval over seeds and clips
    (`bootstrap_interval`).

    Args:
        task: `"classification"` or `"depth"`.
        train_features, val_features, test_features: `{layer: (n,
            num_tokens, D)}` from `compute_layer_features` (computed once,
            reused by every run).
        train_targets, val_targets, test_targets: labels, or depth videos
            `(n, T, H, W)`.
        num_layers: int. The encoder depth the fractions refer to.
        learning_rates: defaults to (1e-4, 3e-4, 1e-3).
        layer_fractions: defaults to (0.25, 0.5, 0.75, 0.85, 0.95, 1.0).
        num_steps, batch_size, warmup_fraction: per run (4DS: batch 32).
        num_seeds: int. Readout seeds of the final, tested setting.
        confidence: float. Of the interval.
        verbose: bool. Progress bar over runs.
        **readout_kwargs: `num_classes` or `depth_shape`, `token_grid`,
            `weight_decay` and the `FrozenFeatureReadout` options.

    Returns:
        dict `results` (one row per sweep run, without models), `best` (the
        chosen row), `best_model`, and with test features `test` (a
        `bootstrap_interval` dict plus `per_seed` metrics and
        `train_metric`).

    Example:
    ```python
    layers = [1, 2, 3, 4]
    sweep = readout_sweep(
        "classification", compute_layer_features(backbone, train_x, layers), train_y,
        compute_layer_features(backbone, val_x, layers), val_y, num_layers=4,
        num_classes=8, test_features=compute_layer_features(backbone, test_x, layers),
        test_targets=test_y)
    sweep["best"], sweep["test"]["value"], sweep["test"]["low"], sweep["test"]["high"]
    ```
    """
    layer_fractions = renamed_argument(readout_kwargs, "depth_fractions", "layer_fractions",
                                       layer_fractions)
    points = {}
    for fraction in layer_fractions:
        points.setdefault(feature_layer_at_fraction(fraction, num_layers), []).append(float(fraction))
    missing = [layer for layer in points
               if layer not in train_features or layer not in val_features
               or (test_features is not None and layer not in test_features)]
    if missing:
        raise ValueError(
            f"No cached features for backbone block(s) {missing}; compute them with "
            "compute_layer_features(..., layers=...)."
        )
    if test_features is not None and (test_targets is None or int(num_seeds) < 1):
        raise ValueError("A test evaluation needs `test_targets` and `num_seeds >= 1`.")
    grid = list(itertools.product(sorted(points), learning_rates))
    total = len(grid) + (int(num_seeds) if test_features is not None else 0)
    progbar = (keras.utils.Progbar(total, unit_name="readout", stateful_metrics=["best"])
               if verbose else None)
    results, best, best_model = [], None, None
    lower_is_better = task == "depth"
    for layer, learning_rate in grid:
        run = train_readout(
            task, train_features[layer], train_targets, val_features[layer], val_targets,
            learning_rate, num_steps, batch_size, warmup_fraction, **readout_kwargs,
        )
        model = run.pop("model")
        run.pop("numerators"), run.pop("denominators")
        row = dict(run, feature_layer=layer, layer_fractions=points[layer],
                   learning_rate=learning_rate)
        results.append(row)
        better = best is None or (
            row["metric"] < best["metric"] if lower_is_better else row["metric"] > best["metric"]
        )
        if better:
            best, best_model = row, model
        if progbar:
            progbar.add(1, [("best", best["metric"])])
    output = {"results": results, "best": best, "best_model": best_model}
    if test_features is not None:
        runs = []
        for seed in range(1, int(num_seeds) + 1):
            kwargs = dict(readout_kwargs, seed=seed)
            runs.append(train_readout(
                task, train_features[best["feature_layer"]], train_targets,
                test_features[best["feature_layer"]], test_targets, best["learning_rate"],
                num_steps, batch_size, warmup_fraction, **kwargs))
            if progbar:
                progbar.add(1, [("best", best["metric"])])
        interval = bootstrap_interval(
            np.stack([r["numerators"] for r in runs]),
            np.stack([r["denominators"] for r in runs]), confidence=confidence,
        )
        interval["per_seed"] = [r["metric"] for r in runs]
        interval["train_metric"] = float(np.mean([r["train_metric"] for r in runs]))
        output["test"] = interval
    return output

