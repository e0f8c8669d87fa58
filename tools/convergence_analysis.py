"""Do layers converge in depth order? (LayerLock, Fig. 1, at small scale.)

Trains the tiny video MAE (pixel targets, 4 encoder + 4 decoder blocks) on
the procedural suite: once as the baseline, and once per (L, T) in the grid,
freezing the first L encoder blocks (and the patch embedding) at step T and
training on with the same pixel loss. Every run has the same data, seed and
learning-rate schedule. Compares each run's final loss (mean of the last
`--final_window` per-step losses; the paper uses the last 1,000 steps) with
the baseline's: if early blocks have converged by step T, freezing them
costs (almost) nothing, and the cost grows with L and shrinks with T.

Writes `convergence.{json,png}` to `--output_dir`.

Usage:
    python tools/convergence_analysis.py [--steps 900] [--freeze_steps 300 600]
        [--freeze_layers 1 2 3]
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras_layerlock as kl  # noqa: E402
from keras_layerlock.recipes import build  # noqa: E402


class FreezeAtStep(keras.callbacks.Callback):
    """Freezes the first `num_layers` encoder blocks at step `step`; the
    target stays pixels (target layer 0)."""

    def __init__(self, num_layers, step):
        super().__init__()
        self.num_layers, self.step, self._seen = int(num_layers), int(step), 0

    def on_train_batch_begin(self, batch, logs=None):
        if self._seen == self.step:
            model = self.model  # under JAX this syncs the training state
            model.set_layerlock_state(self.num_layers, 0)
            model.make_train_function(force=True)

    def on_train_batch_end(self, batch, logs=None):
        self._seen += 1


def train(args, videos, num_layers=0, step=None):
    keras.utils.set_random_seed(args.seed)
    model, _, optimizer = build("tiny", total_steps=args.steps)
    model.compile(optimizer=optimizer)
    history = kl.StepLossHistory()
    callbacks = [history] + ([FreezeAtStep(num_layers, step)] if num_layers else [])
    epochs = -(-args.steps // (len(videos) // args.batch_size))
    steps_per_epoch = -(-args.steps // epochs)
    model.fit(videos[: steps_per_epoch * args.batch_size], batch_size=args.batch_size,
              epochs=epochs, callbacks=callbacks, verbose=0)
    losses = np.asarray(history.losses[: args.steps])
    return losses


def plot(results, baseline, path, window):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curve_ax, bar_ax) = plt.subplots(1, 2, figsize=(13, 4.5))
    smooth = max(1, window // 2)
    kernel = np.ones(smooth) / smooth
    curve_ax.plot(np.convolve(baseline, kernel, "valid"), color="k", label="baseline")
    for r in results:
        curve_ax.plot(np.convolve(r["losses"], kernel, "valid"), lw=0.8,
                      label=f"freeze {r['num_layers']} at {r['step']}")
    curve_ax.set(xlabel="step", ylabel="pixel loss (smoothed)", yscale="log",
                 title="Training curves")
    curve_ax.legend(fontsize=7)
    labels = [f"L={r['num_layers']}\nT={r['step']}" for r in results]
    bar_ax.bar(labels, [100 * r["relative_change"] for r in results], yerr=[
        100 * r["relative_change_stderr"] for r in results], capsize=3)
    bar_ax.axhline(0, color="k", lw=0.8)
    bar_ax.set(ylabel="final loss vs baseline, %",
               title=f"Freeze the first L blocks at step T (final = last {window} steps)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--freeze_steps", type=int, nargs="+", default=[300, 600])
    parser.add_argument("--freeze_layers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--final_window", type=int, default=100)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--num_clips", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache_dir", default=kl.data.default_cache_dir())
    parser.add_argument("--output_dir", default="outputs/convergence")
    args = parser.parse_args()
    if any(not 0 < t < args.steps for t in args.freeze_steps):
        parser.error("every --freeze_steps value must lie inside (0, --steps)")
    os.makedirs(args.output_dir, exist_ok=True)
    start = time.perf_counter()
    suite = kl.data.ProceduralVideoSuite(num_frames=8, image_size=32)
    videos = suite.load_split("train", args.num_clips, cache_dir=args.cache_dir)["video"]
    videos = videos.astype("float32") / 255.0
    grid = [(layers, step) for step in args.freeze_steps for layers in args.freeze_layers]
    progbar = keras.utils.Progbar(len(grid) + 1, unit_name="run")
    baseline = train(args, videos)
    progbar.add(1)
    window = args.final_window
    base_final = baseline[-window:]
    results = []
    for layers, step in grid:
        losses = train(args, videos, layers, step)
        final = losses[-window:]
        # Same seed and batches: compare step by step, so the batch-to-batch
        # noise shared by both runs cancels in the paired differences.
        relative = final / base_final - 1.0
        results.append({
            "num_layers": layers, "step": step, "final_loss": float(final.mean()),
            "relative_change": float(final.mean() / base_final.mean() - 1.0),
            "relative_change_stderr": float(relative.std(ddof=1) / np.sqrt(len(relative))),
            "losses": losses.tolist(),
        })
        progbar.add(1)
    lines = ["| frozen blocks L | at step T | final loss | vs baseline |", "|---|---|---|---|",
             f"| 0 (baseline) | - | {base_final.mean():.4f} | - |"]
    for r in results:
        lines.append(f"| {r['num_layers']} | {r['step']} | {r['final_loss']:.4f} | "
                     f"{100 * r['relative_change']:+.1f} % ± {100 * r['relative_change_stderr']:.1f} |")
    table = "\n".join(lines)
    print("\n" + table)
    with open(os.path.join(args.output_dir, "convergence.json"), "w") as f:
        json.dump({"args": vars(args), "backend": keras.backend.backend(),
                   "baseline": {"final_loss": float(base_final.mean()),
                                "losses": baseline.tolist()},
                   "runs": results, "seconds": time.perf_counter() - start}, f, indent=2)
    plot(results, baseline, os.path.join(args.output_dir, "convergence.png"), window)
    print(f"Wrote {args.output_dir}/convergence.json and .png "
          f"({time.perf_counter() - start:.0f} s on {keras.backend.backend()})")


if __name__ == "__main__":
    main()
