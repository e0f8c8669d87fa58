import numpy as np

from keras_layerlock.evaluation.protocol import TASKS
from keras_layerlock.evaluation.protocol import evaluate_frozen_backbone
from keras_layerlock.evaluation.protocol import interval_row

FRAME_ORDERS = ("original", "shuffled", "repeated")


def reorder_frames(splits, order, seed=0):
    """The suite's splits with every clip's frames reordered.

    Args:
        splits: `{split: arrays}` as `ProceduralVideoSuite.load_split` gives
            (`video (N, T, H, W, 3)`, per-frame `depth (N, T, H, W)`, labels).
        order: `"original"` (unchanged), `"shuffled"` (each clip's frames in
            its own random order) or `"repeated"` (the first frame, `T`
            times: a still clip).
        seed: int. Seed of the shuffles.

    Returns:
        New `{split: arrays}`; per-frame arrays (video, depth) move with
        their frames and labels stay.

    Example:
    ```python
    still = reorder_frames(splits, "repeated")
    ```
    """
    if order not in FRAME_ORDERS:
        raise ValueError(f"`order` must be one of {FRAME_ORDERS}; received {order!r}.")
    if order == "original":
        return splits
    rng = np.random.default_rng(seed)
    result = {}
    for split, data in splits.items():
        num_clips, num_frames = data["video"].shape[:2]
        if order == "shuffled":
            indices = np.argsort(rng.random((num_clips, num_frames)), axis=1)
        else:
            indices = np.zeros((num_clips, num_frames), "int64")
        moved = {}
        for key, value in data.items():
            value = np.asarray(value)
            if value.ndim >= 2 and value.shape[:2] == (num_clips, num_frames):
                take = indices.reshape(indices.shape + (1,) * (value.ndim - 2))
                moved[key] = np.take_along_axis(value, take, axis=1)
            else:
                moved[key] = value
        result[split] = moved
    return result


def temporal_ablation(backbone, splits, orders=FRAME_ORDERS, tasks=TASKS, seed=0, **kwargs):
    """How much a frozen video backbone's readouts rely on frame order.

    ViC-MAE's temporal ablation (Hernandez et al., 2024, supplement): the
    same readout protocol (`evaluate_frozen_backbone`: probes trained and
    scored on clips of the same order) on the original clips, on clips
    whose frames are shuffled, and on still clips (one frame repeated). A
    model that uses motion loses accuracy on the motion task when the
    order is destroyed; appearance should hold.

    Args:
        backbone: a `VideoViTBackbone`.
        splits: `{"train", "validation", "test"}` suite arrays.
        orders: which of `FRAME_ORDERS` to evaluate.
        tasks: the suite's tasks to read out.
        seed: int. Seed of the shuffles.
        **kwargs: `evaluate_frozen_backbone` arguments (`num_layers`,
            `layer_fractions`, `num_steps`, `num_seeds`, ...).

    Returns:
        `{order: {task: {"value", "low", "high"}}}` on the test split.

    Example:
    ```python
    table = temporal_ablation(backbone, splits, num_layers=4)
    table["shuffled"]["motion"]["value"]
    ```
    """
    table = {}
    for order in orders:
        rows = evaluate_frozen_backbone(backbone, reorder_frames(splits, order, seed),
                                        tasks=tuple(tasks), **kwargs)
        table[order] = {task: interval_row(rows[task]["test"]) for task in tasks}
    return table
