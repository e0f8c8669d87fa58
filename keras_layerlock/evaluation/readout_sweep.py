import itertools
import time

import keras

from keras_layerlock.evaluation.feature_extraction import depth_features_in_batches
from keras_layerlock.models.readout.readout_classifier import ReadoutClassifier
from keras_layerlock.models.readout.readout_depth_estimator import ReadoutDepthEstimator

# LayerLock / 4DS readout sweep (LayerLock supplementary, "Readouts").
SWEEP_LEARNING_RATES = (1e-4, 3e-4, 1e-3)
SWEEP_DEPTH_FRACTIONS = (0.25, 0.5, 0.75, 0.85, 0.95, 1.0)
TASK_KINDS = ("classification", "depth")


def depth_fraction_to_layer(fraction, num_layers):
    """Backbone depth read out for a readout depth fraction (at least 1)."""
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"Depth fractions must be in (0, 1]; received {fraction}.")
    return max(1, min(num_layers, int(round(float(fraction) * num_layers))))


def compute_depth_features(backbone, videos, layers, batch_size=32, verbose=False):
    """Token features of several backbone depths from one forward pass.

    Args:
        backbone: a `VideoViTBackbone`.
        videos: array `(n, T, H, W, C)`.
        layers: iterable of depths (1-based block indices).
        batch_size: int.
        verbose: bool. A progress bar.

    Returns:
        `{layer: float32 array (n, num_tokens, hidden_dim)}`.

    Example:
    ```python
    features = compute_depth_features(backbone, videos, layers=[2, 4])
    ```
    """
    layers = sorted({int(layer) for layer in layers})
    if not layers or layers[0] < 1 or layers[-1] > backbone.num_layers:
        raise ValueError(f"`layers` must be in [1, {backbone.num_layers}]; received {layers}.")
    return depth_features_in_batches(backbone, videos, layers, batch_size, verbose)


def readout_learning_rate(learning_rate, num_steps, warmup_steps):
    """4DS readout schedule: linear warm-up, cosine decay to 1e-7."""
    warmup_steps = min(int(warmup_steps), max(num_steps - 1, 0))
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        max(1, num_steps - warmup_steps),
        alpha=1e-7 / learning_rate,
        warmup_target=learning_rate,
        warmup_steps=warmup_steps,
    )


def train_readout(task, train_features, train_targets, val_features, val_targets,
                  learning_rate, num_steps, batch_size=32, warmup_steps=1000,
                  num_classes=None, depth_shape=None, readout_hidden_dim=256,
                  readout_num_heads=8, weight_decay=1e-4, seed=0):
    """Trains one readout on cached features and evaluates it.

    Returns:
        dict with the validation `metric` (accuracy for classification,
        AbsRel for depth), `train_loss` and `seconds`.
    """
    if task not in TASK_KINDS:
        raise ValueError(f"`task` must be one of {TASK_KINDS}; received {task!r}.")
    keras.utils.set_random_seed(seed)
    if task == "classification":
        model = ReadoutClassifier(
            num_classes, feature_dim=train_features.shape[-1], readout_hidden_dim=readout_hidden_dim, readout_num_heads=readout_num_heads
        )
    else:
        model = ReadoutDepthEstimator(
            depth_shape, feature_dim=train_features.shape[-1], readout_hidden_dim=readout_hidden_dim, readout_num_heads=readout_num_heads
        )
    schedule = readout_learning_rate(learning_rate, num_steps, warmup_steps)
    model.compile(keras.optimizers.AdamW(schedule, weight_decay=weight_decay))
    steps_per_epoch = max(1, len(train_features) // batch_size)
    epochs = -(-num_steps // steps_per_epoch)
    start = time.perf_counter()
    history = model.fit(
        train_features, train_targets, batch_size=batch_size, epochs=epochs,
        steps_per_epoch=min(steps_per_epoch, num_steps), verbose=0,
    )
    scores = model.evaluate(val_features, val_targets, batch_size=128, verbose=0, return_dict=True)
    metric = scores["accuracy"] if task == "classification" else scores["abs_rel"]
    return {
        "metric": float(metric),
        "train_loss": float(history.history["loss"][-1]),
        "seconds": time.perf_counter() - start,
        "model": model,
    }


def readout_sweep(task, train_features, train_targets, val_features, val_targets,
                  num_layers, learning_rates=SWEEP_LEARNING_RATES,
                  depth_fractions=SWEEP_DEPTH_FRACTIONS, num_steps=1000, batch_size=32,
                  warmup_steps=1000, verbose=True, **readout_kwargs):
    """The LayerLock / 4DS readout sweep on cached frozen features.

    Trains one `CrossAttentionReadout` task model per (learning rate,
    readout depth fraction) with the 4DS schedule (cosine, linear warm-up,
    decay to 1e-7), keeps every result, and reports the best (highest
    accuracy, or lowest AbsRel for depth). Depth fractions that round to
    the same backbone depth share one run.

    Args:
        task: `"classification"` or `"depth"`.
        train_features, val_features: `{layer: (n, num_tokens, D)}` from
            `compute_depth_features` (computed once, reused by every run).
        train_targets, val_targets: labels, or depth videos `(n, T, H, W)`.
        num_layers: int. The encoder depth the fractions refer to.
        learning_rates: defaults to (1e-4, 3e-4, 1e-3).
        depth_fractions: defaults to (0.25, 0.5, 0.75, 0.85, 0.95, 1.0).
        num_steps, batch_size, warmup_steps: per run (4DS: batch 32,
            1 k warm-up steps; warm-up is capped below `num_steps`).
        verbose: bool. Progress bar over runs.
        **readout_kwargs: `num_classes` or `depth_shape`,
            `readout_hidden_dim`, `readout_num_heads`, `weight_decay`, `seed`.

    Returns:
        dict `results` (one row per run, without models), `best` (a row) and
        `best_model`.

    Example:
    ```python
    features = compute_depth_features(backbone, train_videos, [1, 2, 3, 4])
    val = compute_depth_features(backbone, val_videos, [1, 2, 3, 4])
    sweep = readout_sweep("classification", features, train_labels, val,
                          val_labels, num_layers=4, num_classes=8)
    sweep["best"]
    ```
    """
    points = {}
    for fraction in depth_fractions:
        points.setdefault(depth_fraction_to_layer(fraction, num_layers), []).append(float(fraction))
    missing = [layer for layer in points if layer not in train_features or layer not in val_features]
    if missing:
        raise ValueError(
            f"No cached features for backbone depth(s) {missing}; compute them with "
            "compute_depth_features(..., layers=...)."
        )
    grid = list(itertools.product(sorted(points), learning_rates))
    progbar = (
        keras.utils.Progbar(len(grid), unit_name="readout", stateful_metrics=["best"])
        if verbose
        else None
    )
    results, best, best_model = [], None, None
    lower_is_better = task == "depth"
    for layer, learning_rate in grid:
        run = train_readout(
            task, train_features[layer], train_targets, val_features[layer], val_targets,
            learning_rate, num_steps, batch_size, warmup_steps, **readout_kwargs,
        )
        model = run.pop("model")
        row = dict(run, feature_layer=layer, depth_fractions=points[layer],
                   learning_rate=learning_rate)
        results.append(row)
        better = best is None or (
            row["metric"] < best["metric"] if lower_is_better else row["metric"] > best["metric"]
        )
        if better:
            best, best_model = row, model
        if progbar:
            progbar.add(1, [("best", best["metric"])])
    return {"results": results, "best": best, "best_model": best_model}
