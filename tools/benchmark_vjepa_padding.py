"""What V-JEPA's static context and target sizes cost, per `token_quantile`.

Usage:
    python tools/benchmark_vjepa_padding.py [--quantiles 0.95 0.75 0.5] [--rounds 5]

`MultiblockMasking` gives every clip the same number of context and target
slots (a compiled step needs static shapes): the `token_quantile` quantile
of the per-clip counts. Clips with fewer tokens pad (the slots are masked
out of attention and the loss, but still computed); clips with more keep a
random subset. For each mask setting and quantile this reports, from 4,096
draws of the masks themselves (`MultiblockMasking.block_masks` in NumPy):
the slots, the share of context and target slots that are padding, and the
share of the clips' context and target tokens dropped. Then it times a
`VJEPA` training step of the tiny recipe's model (`tiny_vjepa`: the tiny
ViT, 4 blocks encoding, 4 predicting, 4 x 4 x 4 grid, batch 16) for each
quantile, the settings taking turns for `--rounds` rounds in one process
(medians of 3 steps per round, after warm-up). Writes
`outputs/benchmark_vjepa_padding.json` and a plot beside it.
"""

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_MASKS = [{"num_blocks": 88, "spatial_scale": 0.0625, "aspect_ratio": (1.0, 1.0),
               "temporal_scale": 0.25}]
SETTINGS = [
    ("tiny recipe's masks, 4 x 4 x 4 grid", TINY_MASKS, (4, 4, 4)),
    ("V-JEPA's masks (short), 4 x 4 x 4 grid", "vjepa", (4, 4, 4)),
    ("V-JEPA's masks (short), 8 x 14 x 14 grid (16 x 224 x 224 clips)", "vjepa", (8, 14, 14)),
]


def mask_configs(masks):
    from keras_layerlock.layers.multiblock_masking import MULTIBLOCK_PRESETS

    return [dict(c) for c in (MULTIBLOCK_PRESETS[masks] if isinstance(masks, str) else masks)]


def slot_statistics(config, grid, quantile):
    """Slots, padding and dropped shares of the first mask kind, from the
    masks' own NumPy draws."""
    import numpy as np

    from keras_layerlock.layers.multiblock_masking import MultiblockMasking

    masking = MultiblockMasking(**config, token_quantile=quantile)
    num_context, num_target = masking.token_counts(grid)
    draws = np.random.default_rng(1).random((4096, masking.num_blocks, 6), dtype="float32")
    union = masking.block_masks(draws, grid, xp=np).any(axis=1).reshape(len(draws), -1)
    num_tokens = union.shape[1]
    targets = np.minimum(union.sum(axis=1), num_tokens - 1)
    contexts = num_tokens - targets
    row = {"num_tokens": int(num_tokens), "num_context": num_context, "num_target": num_target}
    for name, counts, slots in (("context", contexts, num_context),
                                ("target", targets, num_target)):
        row[f"{name}_padding"] = float(np.maximum(slots - counts, 0).mean() / slots)
        row[f"{name}_dropped"] = float(np.maximum(counts - slots, 0).sum() / counts.sum())
    return row


def step_times(quantiles, rounds):
    """ms per training step of the tiny V-JEPA for each quantile, interleaved."""
    sys.path.insert(0, ROOT)
    import keras
    import numpy as np

    import keras_layerlock as kl

    steps = {}
    for q in quantiles:
        keras.utils.set_random_seed(0)
        backbone = kl.VideoViTBackbone.from_preset("video_vit_tiny")
        masks = [dict(c, token_quantile=q) for c in TINY_MASKS]
        model = kl.VJEPA(backbone, predictor="layerlock", predictor_num_layers=4, masks=masks,
                         initial_target_layer="pixels", norm_pix_loss=True, seed=0)
        model.compile(keras.optimizers.AdamW(1e-3))
        x = keras.ops.convert_to_tensor(
            np.random.default_rng(0).random((16, 8, 32, 32, 3), dtype="float32"))
        for _ in range(3):
            model.train_on_batch(x)
        steps[q] = (model, x)
    times = {q: [] for q in quantiles}
    for _ in range(rounds):
        for q, (model, x) in steps.items():
            for _ in range(3):
                start = time.perf_counter()
                model.train_on_batch(x)
                times[q].append(time.perf_counter() - start)
    return {q: 1000 * statistics.median(t) for q, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quantiles", nargs="+", type=float, default=[0.95, 0.75, 0.5])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output",
                        default=os.path.join(ROOT, "outputs", "benchmark_vjepa_padding.json"))
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    results = {"slots": [], "step_ms": {}}
    jobs = [(label, masks, grid, q) for label, masks, grid in SETTINGS for q in args.quantiles]
    for label, masks, grid, q in jobs:
        row = slot_statistics(mask_configs(masks)[0], grid, q)
        results["slots"].append({"setting": label, "quantile": q, **row})
    print("| masks | quantile | context slots | padded | dropped | target slots | padded | "
          "dropped |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results["slots"]:
        print(f"| {r['setting']} | {r['quantile']} | {r['num_context']} / {r['num_tokens']} | "
              f"{r['context_padding']:.0%} | {r['context_dropped']:.0%} | {r['num_target']} | "
              f"{r['target_padding']:.0%} | {r['target_dropped']:.0%} |")
    ms = step_times(args.quantiles, args.rounds)
    results["step_ms"] = {str(q): v for q, v in ms.items()}
    reference = ms[args.quantiles[0]]
    print(f"\ntiny V-JEPA training step ({keras_backend()}), ms (ratio to quantile "
          f"{args.quantiles[0]}):")
    for q, v in ms.items():
        print(f"  quantile {q}: {v:.1f} ({v / reference:.2f})")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3))
    for label, *_ in SETTINGS:
        rows = [r for r in results["slots"] if r["setting"] == label]
        left.plot([r["quantile"] for r in rows], [r["context_padding"] for r in rows], "o-",
                  label=label)
    left.set_xlabel("token_quantile")
    left.set_ylabel("context slots that are padding")
    left.legend(fontsize=6)
    right.bar([str(q) for q in ms], list(ms.values()))
    right.set_xlabel("token_quantile")
    right.set_ylabel("tiny V-JEPA ms / step")
    fig.tight_layout()
    fig.savefig(os.path.splitext(args.output)[0] + ".png", dpi=120)
    print(f"wrote {args.output} and its plot")


def keras_backend():
    import keras

    return keras.backend.backend()


if __name__ == "__main__":
    main()
