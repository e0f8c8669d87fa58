"""ViC-MAE's temporal ablation: read a video model out on shuffled and still clips.

Loads a backbone preset (e.g. one the main job wrote under
`outputs/main_job/presets/<name>`), and reads the suite's tasks out of its
frozen features with the main job's protocol on three versions of the same
clips: the original order, each clip's frames shuffled, and the first frame
repeated (`keras_layerlock.evaluation.temporal_ablation`). Prints a table,
writes `<output_dir>/temporal_ablation.json` and a bar plot.

Usage:
    python tools/temporal_ablation.py --preset outputs/main_job/presets/mae \\
        [--tasks motion appearance] [--num_layers 4] [--readout_steps 500]
"""

import argparse
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras_layerlock as kl  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", required=True, help="a backbone preset directory or name")
    parser.add_argument("--tasks", nargs="+", default=["motion", "appearance"],
                        choices=kl.evaluation.protocol.TASKS)
    parser.add_argument("--num_layers", type=int, default=4,
                        help="encoder depth (the main job's presets keep 4 decoder blocks)")
    parser.add_argument("--num_train", type=int, default=4096)
    parser.add_argument("--num_validation", type=int, default=512)
    parser.add_argument("--num_test", type=int, default=1024)
    parser.add_argument("--readout_steps", type=int, default=500)
    parser.add_argument("--num_seeds", type=int, default=3)
    parser.add_argument("--output_dir", default="outputs/temporal_ablation")
    parser.add_argument("--cache_dir", default=kl.data.default_cache_dir())
    args = parser.parse_args()

    suite = kl.data.ProceduralVideoSuite(num_frames=8, image_size=32)
    splits = {split: suite.load_split(split, count, cache_dir=args.cache_dir)
              for split, count in (("train", args.num_train), ("validation", args.num_validation),
                                   ("test", args.num_test))}
    backbone = kl.VideoViTBackbone.from_preset(args.preset)
    table = kl.evaluation.temporal_ablation(
        backbone, splits, tasks=args.tasks, num_layers=args.num_layers,
        num_steps=args.readout_steps, num_seeds=args.num_seeds, verbose=True)

    print(f"\nTemporal ablation of {args.preset} (test clips, 95 % intervals)")
    print("| frames | " + " | ".join(args.tasks) + " |")
    print("|---|" + "---|" * len(args.tasks))
    for order, row in table.items():
        cells = [f"{row[t]['value']:.3f} [{row[t]['low']:.3f}, {row[t]['high']:.3f}]"
                 for t in args.tasks]
        print(f"| {order} | " + " | ".join(cells) + " |")
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "temporal_ablation.json"), "w") as f:
        json.dump({"preset": args.preset, "args": vars(args), "table": table}, f, indent=2)
    plot(table, args.tasks, os.path.join(args.output_dir, "temporal_ablation.png"))
    print(f"wrote {args.output_dir}/temporal_ablation.json and temporal_ablation.png")


def plot(table, tasks, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        orders = list(table)
        values = [table[o][task]["value"] for o in orders]
        errors = [[v - table[o][task]["low"] for o, v in zip(orders, values)],
                  [table[o][task]["high"] - v for o, v in zip(orders, values)]]
        ax.bar(orders, values, yerr=errors, capsize=4, color=["C0", "C1", "C2"][: len(orders)])
        ax.set_title(task)
        ax.set_ylabel("AbsRel" if task == "depth" else "accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
