"""The main job: pretrain three ways, read out, compare.

On the built-in procedural video suite (8 x 32 x 32 clips) and the Keras
backend named by `KERAS_BACKEND` (PyTorch when it is not set: the fastest
here):

1. pretrain a tiny video ViT (4-block encoder) three ways on the same clips
   with the same budget: MAE (pixel targets only), LayerLock-MAE (the tiny
   LayerLock schedule) and LayerLock-V-JEPA (EMA teacher, multiblock
   masks, the same schedule). Each run is its own process, so its peak
   memory is its own; each model is saved as a keras-hub style preset
   directory (`config.json`, `model.weights.h5`, `metadata.json`) plus the
   complete pretraining model (`pretraining_model.keras`, decoder or
   predictor included);
2. load every preset back with `VideoViTBackbone.from_preset` and run the
   readout sweep (learning rates x readout depth fractions, cross-attention
   readouts on frozen features computed once per clip) for the motion,
   appearance and depth tasks, plus k-NN (k=20), for the three models and a
   randomly initialised backbone (the floor);
3. print one comparison table and save it as Markdown and JSON, with plots
   of the training curves (freezing events marked) and of the readouts.

Usage:
    python recipes/main_job.py [--steps 600] [--output_dir outputs/main_job]
    python recipes/main_job.py --toy   # a one-minute smoke run
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

# PyTorch runs this job fastest on a small CPU (about 10 minutes against
# about 20 for TensorFlow on 2 cores); an explicit KERAS_BACKEND wins.
os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import keras_layerlock as kl  # noqa: E402
from keras_layerlock.training.flops import step_flops  # noqa: E402
from recipes.layerlock_recipes import build  # noqa: E402
from recipes.layerlock_recipes import recipe_callbacks  # noqa: E402
from recipes.layerlock_recipes import scaled_schedule  # noqa: E402

# name -> (recipe, LayerLock schedule on?)
PRETRAINING = {
    "mae": ("tiny", False),
    "layerlock_mae": ("tiny", True),
    "layerlock_vjepa": ("tiny_vjepa", True),
}
RANDOM_INIT = "random_init"
TASKS = ("motion", "appearance", "depth")
NUM_ENCODER_LAYERS = 4  # of every model here (the tiny MAE: 4 + 4 decoder blocks)


def suite_arrays(args, split, count):
    suite = kl.data.ProceduralVideoSuite(num_frames=8, image_size=32, seed=args.data_seed)
    return suite.load_split(split, count, cache_dir=args.cache_dir, verbose=args.verbose)


def videos_of(data):
    return data["video"].astype("float32") / 255.0


def resident_mb():
    """Current resident memory of this process (Linux), else its peak."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Curves(kl.StepLossHistory):
    """Loss per step, analytic FLOPs summed over the steps taken, and the
    resident memory during `fit` (sampled after every step)."""

    def __init__(self, input_shape):
        super().__init__()
        self.input_shape, self.flops, self._cache = input_shape, 0, {}
        self.start_mb = self.peak_mb = resident_mb()

    def on_train_batch_begin(self, batch, logs=None):
        model = self._model
        state = (model.frozen_depth, model.target_layer)
        if state not in self._cache:
            self._cache[state] = step_flops(model, self.input_shape)["total"]
        self.flops += self._cache[state]

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        self.peak_mb = max(self.peak_mb, resident_mb())


def pretrain(args, name):
    """One pretraining run (in its own process); writes its preset."""
    recipe, layerlock = PRETRAINING[name]
    keras.utils.set_random_seed(args.seed)
    videos = videos_of(suite_arrays(args, "train", args.num_pretrain))
    model, _, optimizer = build(recipe, total_steps=args.steps)
    model.compile(optimizer=optimizer)
    batch_shape = (args.batch_size,) + videos.shape[1:]
    curves = Curves(batch_shape)
    callbacks = [curves] + recipe_callbacks(recipe, args.steps)
    layerlock_callback = None
    if layerlock:
        layerlock_callback = kl.LayerLockCallback(
            scaled_schedule(recipe, args.steps), verbose=0
        )
        callbacks.insert(0, layerlock_callback)
    # Epochs of one pass over the first `steps_per_epoch * batch_size`
    # clips, `args.steps` in all (Keras does not restart an array input
    # that `steps_per_epoch` cuts short).
    epochs = -(-args.steps // max(1, len(videos) // args.batch_size))
    steps_per_epoch = -(-args.steps // epochs)
    videos = videos[: steps_per_epoch * args.batch_size]
    print(f"Pretraining {name} ({type(model).__name__}, {args.steps} steps, batch "
          f"{args.batch_size}) on {keras.backend.backend()}", flush=True)
    start = time.perf_counter()
    model.fit(videos, batch_size=args.batch_size, epochs=epochs,
              callbacks=callbacks,
              verbose=args.verbose)
    seconds = time.perf_counter() - start
    preset_dir = os.path.join(args.output_dir, "presets", name)
    model.backbone.save_to_preset(preset_dir)
    model.save(os.path.join(preset_dir, "pretraining_model.keras"))
    result = {
        "name": name,
        "model": type(model).__name__,
        "recipe": recipe,
        "steps": len(curves.losses),
        "losses": curves.losses,
        "events": layerlock_callback.events if layerlock_callback else [],
        "final_state": [int(model.frozen_depth), int(model.target_layer)],
        "train_seconds": seconds,
        "train_flops": float(curves.flops),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        # What training added on top of the framework, data and model.
        "fit_memory_mb": curves.peak_mb - curves.start_mb,
        "preset_dir": preset_dir,
    }
    with open(os.path.join(args.output_dir, f"pretrain_{name}.json"), "w") as f:
        json.dump(result, f, indent=2)


def run_pretraining_process(args, name):
    command = [sys.executable, os.path.abspath(__file__), "--pretrain", name]
    for key in ("steps", "batch_size", "num_pretrain", "seed", "data_seed", "output_dir",
                "cache_dir", "verbose"):
        command += [f"--{key}", str(getattr(args, key))]
    subprocess.run(command, check=True, cwd=ROOT)
    with open(os.path.join(args.output_dir, f"pretrain_{name}.json")) as f:
        return json.load(f)


def evaluate(args, name, backbone, data):
    """Readout sweep for every task and k-NN on one backbone."""
    layers = sorted({kl.evaluation.depth_fraction_to_layer(f, NUM_ENCODER_LAYERS)
                     for f in args.depth_fractions})
    features = {
        split: kl.evaluation.compute_depth_features(
            backbone, videos_of(data[split]), layers, batch_size=64
        )
        for split in ("train", "eval")
    }
    row = {"name": name}
    for task in TASKS:
        kind = "depth" if task == "depth" else "classification"
        targets = {s: kl.data.procedural.procedural_video_suite.task_targets(data[s], task)
                   for s in ("train", "eval")}
        extra = ({"depth_shape": targets["train"].shape[1:]} if kind == "depth"
                 else {"num_classes": kl.data.ProceduralVideoSuite.num_classes(task)})
        print(f"  {name}: {task} readout sweep", flush=True)
        sweep = kl.evaluation.readout_sweep(
            kind, features["train"], targets["train"], features["eval"], targets["eval"],
            num_layers=NUM_ENCODER_LAYERS, learning_rates=args.learning_rates,
            depth_fractions=args.depth_fractions, num_steps=args.readout_steps,
            batch_size=32, warmup_steps=max(1, args.readout_steps // 10),
            verbose=bool(args.verbose), readout_hidden_dim=128, readout_num_heads=4, **extra,
        )
        row[task] = sweep["best"]["metric"]
        row[f"{task}_sweep"] = sweep["results"]
        if kind == "classification":
            pooled = {s: f[layers[-1]].mean(axis=1) for s, f in features.items()}
            row[f"{task}_knn20"] = kl.evaluation.knn_accuracy(
                pooled["train"], targets["train"], pooled["eval"], targets["eval"], k=20
            )[20]
    return row


def markdown_table(rows, pretraining):
    header = ("| model | motion acc | appearance acc | depth AbsRel | k-NN motion | "
              "k-NN appearance | train TFLOP | train s | peak RSS MB | fit memory MB |")
    lines = [header, "|" + "---|" * 10]
    for row in rows:
        p = pretraining.get(row["name"], {})
        flops = f"{p['train_flops'] / 1e12:.1f}" if p else "0"
        seconds = f"{p['train_seconds']:.0f}" if p else "-"
        peak = f"{p['peak_rss_mb']:.0f}" if p else "-"
        fit_memory = f"{p['fit_memory_mb']:.0f}" if p else "-"
        lines.append(
            f"| {row['name']} | {row['motion']:.3f} | {row['appearance']:.3f} | "
            f"{row['depth']:.3f} | {row['motion_knn20']:.3f} | {row['appearance_knn20']:.3f} | "
            f"{flops} | {seconds} | {peak} | {fit_memory} |"
        )
    return "\n".join(lines)


def plot(rows, pretraining, output_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, result in pretraining.items():
        losses = np.asarray(result["losses"])
        window = max(1, len(losses) // 50)
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        line, = ax.plot(np.arange(len(smooth)) + window - 1, smooth, label=name)
        for event in result["events"]:
            ax.axvline(event["step"], color=line.get_color(), ls=":", lw=0.8)
    ax.set(xlabel="step", ylabel="training loss", yscale="log",
           title="Pretraining (dotted: freezing events; the loss changes target there)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(output_dir, "training_curves.png"), dpi=100)

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    names = [r["name"] for r in rows]
    for ax, task in zip(axes, TASKS):
        ax.bar(names, [r[task] for r in rows], color="C0")
        ax.set(title=f"{task} ({'AbsRel, lower is better' if task == 'depth' else 'accuracy'})")
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(os.path.join(output_dir, "readouts.png"), dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600, help="pretraining steps per model")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--num_pretrain", type=int, default=2048, help="pretraining clips")
    parser.add_argument("--num_readout_train", type=int, default=1024)
    parser.add_argument("--num_readout_eval", type=int, default=512)
    parser.add_argument("--readout_steps", type=int, default=300)
    parser.add_argument("--learning_rates", type=float, nargs="+", default=[3e-4, 1e-3])
    parser.add_argument("--depth_fractions", type=float, nargs="+", default=[0.5, 1.0],
                        help="the full LayerLock sweep: 0.25 0.5 0.75 0.85 0.95 1.0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data_seed", type=int, default=0)
    parser.add_argument("--output_dir", default="outputs/main_job")
    parser.add_argument("--cache_dir", default=kl.data.default_cache_dir())
    parser.add_argument("--verbose", type=int, default=1)
    parser.add_argument("--toy", action="store_true", help="a tiny smoke run (about a minute)")
    parser.add_argument("--pretrain", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.toy:
        args.steps, args.batch_size, args.num_pretrain = 4, 4, 16
        args.num_readout_train, args.num_readout_eval, args.readout_steps = 16, 8, 2
        args.learning_rates, args.depth_fractions = [1e-3], [1.0]
    os.makedirs(args.output_dir, exist_ok=True)
    if args.pretrain:
        return pretrain(args, args.pretrain)

    start = time.perf_counter()
    print(f"Main job on {keras.backend.backend()}: data", flush=True)
    data = {
        "pretrain": suite_arrays(args, "train", args.num_pretrain),
        "eval": suite_arrays(args, "validation", args.num_readout_eval),
    }
    # Readouts train on labelled clips from the training split.
    data["train"] = {k: v[: args.num_readout_train] for k, v in data["pretrain"].items()}
    if args.num_readout_train > args.num_pretrain:
        data["train"] = suite_arrays(args, "train", args.num_readout_train)

    pretraining = {name: run_pretraining_process(args, name) for name in PRETRAINING}

    keras.utils.set_random_seed(args.seed)
    random_dir = os.path.join(args.output_dir, "presets", RANDOM_INIT)
    kl.VideoViTBackbone.from_preset(
        "video_vit_tiny", num_layers=NUM_ENCODER_LAYERS
    ).save_to_preset(random_dir)

    rows = []
    for name in list(PRETRAINING) + [RANDOM_INIT]:
        preset_dir = pretraining[name]["preset_dir"] if name in pretraining else random_dir
        print(f"Evaluating {name} (from_preset({preset_dir!r}))", flush=True)
        backbone = kl.VideoViTBackbone.from_preset(preset_dir)
        rows.append(evaluate(args, name, backbone, data))

    table = markdown_table(rows, pretraining)
    total = time.perf_counter() - start
    print("\n" + table)
    print(f"\nTotal wall time {total:.0f} s on {keras.backend.backend()}.")
    summary = {
        "backend": keras.backend.backend(),
        "args": {k: v for k, v in vars(args).items() if k != "pretrain"},
        "table": [{k: v for k, v in r.items() if not k.endswith("_sweep")} for r in rows],
        "sweeps": {r["name"]: {t: r[f"{t}_sweep"] for t in TASKS} for r in rows},
        "pretraining": {k: {kk: vv for kk, vv in v.items() if kk != "losses"}
                        for k, v in pretraining.items()},
        "total_seconds": total,
    }
    with open(os.path.join(args.output_dir, "results.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(args.output_dir, "results.md"), "w") as f:
        f.write(f"Backend: {keras.backend.backend()}; {args.steps} pretraining steps at batch "
                f"{args.batch_size}; total {total:.0f} s.\n\n{table}\n")
    plot(rows, pretraining, args.output_dir)
    print(f"Wrote {args.output_dir}/results.md, results.json, training_curves.png, "
          "readouts.png and presets/")


if __name__ == "__main__":
    main()
