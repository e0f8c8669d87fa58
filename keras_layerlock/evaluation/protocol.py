"""The evaluation protocol of the procedural suite, shared by the main job
(`recipes/main_job.py`) and the calibration tool (`tools/calibrate_suite.py`):
the same splits, readouts, selection and intervals for every row, so that a
pretrained model, the random-init floor, the supervised ceiling and the
trivial baselines are comparable.
"""

import numpy as np

from keras_layerlock.data.procedural.label_preserving_flips import LabelPreservingFlips
from keras_layerlock.data.procedural.procedural_video_suite import ProceduralVideoSuite
from keras_layerlock.data.procedural.procedural_video_suite import task_targets
from keras_layerlock.evaluation.bootstrap import bootstrap_interval
from keras_layerlock.evaluation.readout_sweep import compute_layer_features
from keras_layerlock.evaluation.readout_sweep import feature_layer_at_fraction
from keras_layerlock.evaluation.readout_sweep import per_clip_scores
from keras_layerlock.evaluation.readout_sweep import readout_sweep
from keras_layerlock.evaluation.readout_sweep import renamed_argument
from keras_layerlock.evaluation.readout_sweep import train_readout
from keras_layerlock.losses.masked_depth_abs_rel import MaskedDepthAbsRel
from keras_layerlock.losses.masked_depth_l2 import depth_prior
from keras_layerlock.utils.video_patches import patchify

TASKS = ("motion", "appearance", "depth")
# The fast probe (default): a linear readout on every standardised token
# (classification), or each token to its own output patch (depth). The
# 4DS cross-attention readout is the other protocol.
READOUT_PROTOCOLS = {
    "linear": {"readout_type": "linear"},
    "cross_attention": {"readout_type": "cross_attention", "readout_hidden_dim": 128,
                        "readout_num_heads": 4},
}


def task_kind(task):
    return "depth" if task == "depth" else "classification"


def task_arguments(task, data):
    """`num_classes` or `depth_shape` of a procedural task."""
    if task == "depth":
        return {"depth_shape": tuple(data["depth"].shape[1:])}
    return {"num_classes": ProceduralVideoSuite.num_classes(task)}


def videos_of(data):
    """float32 videos in [0, 1] from `ProceduralVideoSuite.load_split` arrays."""
    return data["video"].astype("float32") / 255.0


def interval_row(result):
    """The `value` / `low` / `high` of an interval (what tables and JSON keep)."""
    return {key: float(result[key]) for key in ("value", "low", "high")}


def evaluate_features(features, splits, num_layers, tasks=TASKS, protocol="linear",
                      layer_fractions=(0.5, 1.0), learning_rates=(1e-3, 3e-3), num_steps=500,
                      num_seeds=3, token_grid=None, verbose=False):
    """Readout sweep per task on cached features; tested with seeds.

    Args:
        features: `{split: {layer: (n, num_tokens, D)}}` for the splits
            `"train"`, `"validation"` and `"test"`.
        splits: `{split: load_split arrays}` (the targets).
        num_layers: int. Depth the readout layer fractions refer to.
        tasks: the procedural tasks to read out.
        protocol: a key of `READOUT_PROTOCOLS`.
        layer_fractions, learning_rates, num_steps: the sweep (selected on
            validation clips).
        num_seeds: readout seeds of the tested setting.
        token_grid: `(T, H, W)` of the tokens.
        verbose: bool.

    Returns:
        `{task: {"test": interval with per_seed, "best": chosen row,
        "results": every sweep row}}`.
    """
    readout = dict(READOUT_PROTOCOLS[protocol])
    out = {}
    for task in tasks:
        targets = {split: task_targets(data, task) for split, data in splits.items()}
        sweep = readout_sweep(
            task_kind(task), features["train"], targets["train"], features["validation"],
            targets["validation"], num_layers=num_layers, learning_rates=learning_rates,
            layer_fractions=layer_fractions, num_steps=num_steps,
            test_features=features["test"], test_targets=targets["test"],
            num_seeds=num_seeds, verbose=verbose, token_grid=token_grid,
            **task_arguments(task, splits["train"]), **readout)
        sweep.pop("best_model")
        out[task] = sweep
    return out


def evaluate_frozen_backbone(backbone, splits, layer_fractions: tuple[float, ...] = (0.5, 1.0),
                             num_layers: int | None = None, batch_size: int = 64,
                             **kwargs) -> dict:
    """`evaluate_features` on a backbone's frozen features of every split.

    The features of all blocks the layer fractions select are computed in
    one forward pass per clip and reused by every readout.

    `num_layers` is the encoder depth the readout layer fractions refer to
    (defaults to all blocks). Pass it for a backbone saved from a
    LayerLock / 4DS MAE, whose last blocks are the decoder: the readouts
    read the encoder.

    Example:
    ```python
    suite = kl.data.ProceduralVideoSuite(num_frames=8, image_size=32)
    splits = {"train": suite.load_split("train", 4096),
              "validation": suite.load_split("validation", 512),
              "test": suite.load_split("test", 1024)}
    rows = evaluate_frozen_backbone(backbone, splits)
    rows["motion"]["test"]   # value, low, high (95 %), per_seed
    ```
    """
    layer_fractions = renamed_argument(kwargs, "depth_fractions", "layer_fractions",
                                       layer_fractions)
    num_layers = backbone.num_layers if num_layers is None else int(num_layers)
    if not 1 <= num_layers <= backbone.num_layers:
        raise ValueError(
            f"`num_layers` (the encoder depth) must be in [1, {backbone.num_layers}]; "
            f"received {num_layers}."
        )
    layers = sorted({feature_layer_at_fraction(f, num_layers) for f in layer_fractions})
    features = {split: compute_layer_features(backbone, videos_of(data), layers,
                                              batch_size=batch_size)
                for split, data in splits.items()}
    return evaluate_features(features, splits, num_layers,
                             layer_fractions=layer_fractions,
                             token_grid=tuple(backbone.nominal_grid_shape), **kwargs)


def evaluate_pixels(splits, patch_size=(2, 8, 8), **kwargs):
    """The same readouts on raw pixel tubelets (a linear probe on pixels).

    Every tubelet of `patch_size` is one token of `t * p * p * 3` pixel
    values, standardised like backbone features.
    """
    features = {split: {1: np.asarray(patchify(videos_of(data), patch_size), "float32")}
                for split, data in splits.items()}
    shape = splits["train"]["video"].shape[1:4]
    grid = tuple(s // p for s, p in zip(shape, patch_size))
    return evaluate_features(features, splits, num_layers=1, layer_fractions=(1.0,),
                             token_grid=grid, **kwargs)


def supervised_ceiling(backbone, splits, task, num_steps=1200, learning_rate=1e-3,
                       weight_decay=0.05, batch_size=32, protocol="linear", seed=0,
                       augment=True, loss="auto"):
    """The backbone trained end to end with labels, with the probe's head.

    One run (training the backbone is the expensive part); its interval is
    a bootstrap over the test clips. With `augment` every training clip is
    randomly mirrored and/or played backwards, its label mapped to match
    (`LabelPreservingFlips`): without it the tiny ViT memorises a few
    thousand clips of motion long before it learns to read motion.
    `loss` is passed to the readout; `"auto"` is cross-entropy for the
    classification tasks and, for depth, `MaskedDepthAbsRel`: an upper
    bound on AbsRel trains on AbsRel (with the readouts' L2 in metres,
    ruled by the far wall, 1,200 steps reached 0.213 against 0.206 with
    AbsRel, and 3,600 steps with AbsRel 0.113).

    Returns:
        dict with the test interval (`value`, `low`, `high`, ...),
        `train_metric`, `validation` (metric on the validation clips),
        `seconds`.
    """
    readout = dict(READOUT_PROTOCOLS[protocol])
    if loss == "auto" and task_kind(task) == "depth":
        loss = MaskedDepthAbsRel()
    targets = {split: task_targets(data, task) for split, data in splits.items()}
    train_videos = videos_of(splits["train"])
    # As `fit` on arrays does, a batch larger than the training set is cut to it.
    train_data = (LabelPreservingFlips(train_videos, targets["train"], task,
                                       min(batch_size, len(train_videos)), seed)
                  if augment else None)
    run = train_readout(
        task_kind(task), train_videos, targets["train"],
        videos_of(splits["test"]), targets["test"], learning_rate, num_steps,
        batch_size=batch_size, weight_decay=weight_decay, seed=seed, backbone=backbone,
        freeze_backbone=False, train_data=train_data, loss=loss,
        **task_arguments(task, splits["train"]), **readout)
    model = run.pop("model")
    predictions = model.predict(videos_of(splits["validation"]), batch_size=64, verbose=0)
    numerators, denominators = per_clip_scores(task_kind(task), predictions,
                                               targets["validation"])
    result = bootstrap_interval(run["numerators"], run["denominators"])
    result.update(train_metric=run["train_metric"], seconds=run["seconds"],
                  validation=float(numerators.sum() / denominators.sum()))
    return result


def trivial_baselines(splits, task):
    """Label-free or feature-free baselines on the test clips, with intervals.

    Classification: `chance` (1 / classes, exact) and `majority` (the most
    frequent training class). Depth: `constant` (the mean valid training
    depth everywhere) and `per_pixel_prior` (each pixel's mean valid
    training depth).
    """
    train, test = task_targets(splits["train"], task), task_targets(splits["test"], task)
    kind = task_kind(task)
    if kind == "classification":
        num_classes = ProceduralVideoSuite.num_classes(task)
        majority = np.bincount(train, minlength=num_classes).argmax()
        correct = (test == majority).astype("float64")
        chance = 1.0 / num_classes
        return {"chance": {"value": chance, "low": chance, "high": chance},
                "majority": bootstrap_interval(correct)}
    prior = depth_prior(train)
    out = {}
    for name, prediction in (("constant", np.full(test.shape, prior["mean"], "float32")),
                             ("per_pixel_prior", np.broadcast_to(prior["per_pixel"], test.shape))):
        out[name] = bootstrap_interval(*per_clip_scores(kind, prediction, test))
    return out
