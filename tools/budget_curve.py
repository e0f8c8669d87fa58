"""Readout quality against pretraining steps: how the main job's budget is chosen.

Pretrains with the main job's own pretraining code (`recipes/main_job.py
--pretrain`, the same recipe, data and seed) once per budget in `--steps`,
each run with its own full learning-rate schedule, and reads every
checkpoint out with the main job's protocol (linear probes on frozen
features, selection on validation clips, 3 seeds on test clips, 95 %
bootstrap intervals). Step 0 is the random-init floor. Writes
`budget_curve.{json,png}` to `--output_dir`.

Usage:
    python tools/budget_curve.py [--steps 0 375 750 1500 3000] [--models mae]
"""

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras_layerlock as kl  # noqa: E402
from keras_layerlock.evaluation import protocol  # noqa: E402

MAIN_JOB = os.path.join(ROOT, "recipes", "main_job.py")


def pretrain(args, name, steps):
    output_dir = os.path.join(args.output_dir, f"{name}_{steps}")
    subprocess.run([sys.executable, MAIN_JOB, "--pretrain", name, "--steps", str(steps),
                    "--num_pretrain", str(args.num_pretrain), "--output_dir", output_dir,
                    "--cache_dir", args.cache_dir, "--verbose", "0", "--budget", "default"],
                   check=True, cwd=ROOT)
    with open(os.path.join(output_dir, f"pretrain_{name}.json")) as f:
        return json.load(f)


def plot(points, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, task in zip(axes, protocol.TASKS):
        for name in sorted({p["model"] for p in points}):
            rows = sorted((p for p in points if p["model"] in (name, "random_init")),
                          key=lambda p: p["steps"])
            x = [p["steps"] for p in rows]
            y = np.array([p[task]["value"] for p in rows])
            err = np.array([[p[task]["value"] - p[task]["low"], p[task]["high"] - p[task]["value"]]
                            for p in rows]).T
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name)
        ax.set(xlabel="pretraining steps (batch 16)",
               ylabel="AbsRel (lower is better)" if task == "depth" else "test accuracy",
               title=f"{task} (95 % intervals; step 0 = random init)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 375, 750, 1500, 3000])
    parser.add_argument("--models", nargs="+", default=["mae"],
                        choices=["mae", "layerlock_mae", "layerlock_vjepa"])
    parser.add_argument("--num_pretrain", type=int, default=4096)
    parser.add_argument("--num_readout_train", type=int, default=4096)
    parser.add_argument("--num_validation", type=int, default=512)
    parser.add_argument("--num_test", type=int, default=1024)
    parser.add_argument("--readout_steps", type=int, default=500)
    parser.add_argument("--learning_rates", type=float, nargs="+", default=[1e-3, 3e-3],
                        help="readout learning rates chosen on validation clips (the main "
                             "job uses 3e-3 only)")
    parser.add_argument("--num_seeds", type=int, default=3)
    parser.add_argument("--cache_dir", default=kl.data.default_cache_dir())
    parser.add_argument("--output_dir", default="outputs/budget_curve")
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)
    start = time.perf_counter()
    suite = kl.data.ProceduralVideoSuite(num_frames=8, image_size=32)
    splits = {split: suite.load_split(split, count, cache_dir=args.cache_dir)
              for split, count in (("train", args.num_readout_train),
                                   ("validation", args.num_validation),
                                   ("test", args.num_test))}
    runs = [("random_init", 0)] if 0 in args.steps else []
    runs += [(m, s) for m in args.models for s in args.steps if s > 0]
    points = []
    for name, steps in runs:
        print(f"{name} at {steps} steps", flush=True)
        if steps == 0:
            keras.utils.set_random_seed(0)
            backbone = kl.VideoViTBackbone.from_preset("video_vit_tiny", num_layers=4)
            seconds = 0.0
        else:
            result = pretrain(args, name, steps)
            backbone = kl.VideoViTBackbone.from_preset(result["preset_dir"])
            seconds = result["train_seconds"]
        # The MAE presets keep their 4 decoder blocks: read the 4-block encoder.
        rows = protocol.evaluate_frozen_backbone(
            backbone, splits, num_layers=4, num_steps=args.readout_steps,
            learning_rates=tuple(args.learning_rates), num_seeds=args.num_seeds)
        point = {"model": name, "steps": steps, "pretrain_seconds": seconds}
        point.update({task: protocol.interval_row(rows[task]["test"]) for task in protocol.TASKS})
        points.append(point)
        print("  " + ", ".join(f"{t} {point[t]['value']:.3f} [{point[t]['low']:.3f}, "
                               f"{point[t]['high']:.3f}]" for t in protocol.TASKS)
              + f"; pretraining {seconds:.0f} s", flush=True)
        with open(os.path.join(args.output_dir, "budget_curve.json"), "w") as f:
            json.dump({"args": vars(args), "backend": keras.backend.backend(),
                       "points": points, "seconds": time.perf_counter() - start}, f, indent=2)
    plot(points, os.path.join(args.output_dir, "budget_curve.png"))
    print(f"Wrote {args.output_dir}/budget_curve.json and .png "
          f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
