"""LayerLock's collapse experiment at small scale.

LayerLock (Erdogan et al., 2025) reports that an MAE trained with an extra
latent loss on its *own* (online, unfrozen) activations collapses (4DS-H
SSv2 50.1 -> 3.7), while LayerLock, whose latent targets come from frozen
blocks, does not. This script trains the tiny recipe on the built-in
procedural suite, on the same clips with the same budget and seed, as:

- `mae`: pixels only (reference);
- `mae+latent (constant)`: pixels + weight x L2 to the online encoder's own
  stop-gradient output at the masked positions, constant weight;
- `mae+latent (cosine)`: the same with the weight ramped from 0 along a
  half cosine over the run;
- `layerlock`: the tiny LayerLock schedule (scaled to the run length).

Every `--eval_every` steps it measures, on held-out clips, the effective
rank and per-dimension spread of the encoder's mean-pooled features
(`feature_collapse_statistics`), and reads appearance and motion out of
the encoder's last block with the main job's probe (a linear readout on
the standardised tokens, `--probe_steps` steps at lr 1e-3, trained on
`--num_probe_train` clips and scored on `--num_probe_test` others), plus
the k-NN (k=20) accuracy of the mean-pooled features. Writes
`collapse.json` and `collapse.png`.

Usage:
    python tools/collapse_experiment.py [--steps 1200] [--eval_every 100]
        [--latent_weight 1.0] [--output outputs/collapse]
"""

import argparse
import json
import os
import sys
import time

import keras
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras_layerlock as kl  # noqa: E402
from keras_layerlock.evaluation import protocol  # noqa: E402
from keras_layerlock.evaluation.readout_sweep import train_readout  # noqa: E402
from keras_layerlock.recipes import build  # noqa: E402
from keras_layerlock.recipes import scaled_schedule  # noqa: E402


class Probe(keras.callbacks.Callback):
    """Collapse statistics, linear-probe and k-NN accuracy every `every` steps.

    `losses` is a `StepLossHistory` earlier in the callback list: each row
    also gets the mean loss of the steps since the previous row.
    """

    def __init__(self, every, eval_sets, layer, losses, probe_steps):
        super().__init__()
        self.every, self.eval_sets, self.layer = every, eval_sets, layer
        self.probe_steps = probe_steps
        self.losses = losses
        self.rows, self.step = [], 0

    def measure(self):
        model = self.model
        videos = self.eval_sets["videos"]
        # One forward pass: the probes read the tokens, the statistics and
        # k-NN their mean.
        tokens = kl.evaluation.extract_features(model.backbone, videos, self.layer, "tokens", 64)
        features = tokens.mean(axis=1)
        n_train = self.eval_sets["num_train"]
        stats = kl.feature_collapse_statistics(features[n_train:])
        row = {"step": self.step, **{k: float(keras.ops.convert_to_numpy(v)) for k, v in stats.items()}}
        grid = model.backbone.grid_shape(videos.shape)
        for task in ("appearance", "motion"):
            labels = self.eval_sets[task]
            accuracy = kl.evaluation.knn_accuracy(
                features[:n_train], labels[:n_train], features[n_train:], labels[n_train:], k=20
            )
            row[f"knn_{task}"] = accuracy[20]
            probe = train_readout(
                "classification", tokens[:n_train], labels[:n_train], tokens[n_train:],
                labels[n_train:], 1e-3, self.probe_steps, token_grid=grid,
                num_classes=kl.data.ProceduralVideoSuite.num_classes(task),
                **protocol.READOUT_PROTOCOLS["linear"])
            row[f"probe_{task}"] = probe["metric"]
        row["num_frozen_layers"] = int(model.num_frozen_layers)
        self.rows.append(row)

    def on_train_begin(self, logs=None):
        if not self.rows:
            self.measure()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            self.measure()
            # Mean of the steps' own losses since the last measurement
            # (Keras' logs["loss"] is the epoch's running mean).
            recent = [v for step, v in zip(self.losses.steps, self.losses.losses)
                      if step > self.step - self.every]
            self.rows[-1]["loss"] = float(np.mean(recent)) if recent else float("nan")


def run(name, args, train_videos, eval_sets):
    keras.utils.set_random_seed(args.seed)
    model, schedule, optimizer = build("tiny", total_steps=args.steps)
    if name.startswith("mae+latent"):
        config = model.get_config()
        config.update(
            online_latent_weight=args.latent_weight,
            online_latent_schedule="cosine" if "cosine" in name else "constant",
            online_latent_steps=args.steps,
        )
        # The same initial weights as the other runs: the same seed, the
        # same order of draws.
        keras.utils.set_random_seed(args.seed)
        model = kl.LayerLockMAE.from_config(config)
    model.compile(optimizer=optimizer)
    step_losses = kl.StepLossHistory()
    callbacks = [step_losses, Probe(args.eval_every, eval_sets, model.num_encoder_layers, step_losses,
                                         args.probe_steps)]
    if name == "layerlock":
        schedule = scaled_schedule("tiny", args.steps)
        callbacks.insert(0, kl.LayerLockCallback(schedule, verbose=0))
    # Whole passes over a prefix of the clips, exactly `args.steps` steps.
    epochs = -(-args.steps // max(1, len(train_videos) // args.batch_size))
    steps_per_epoch = -(-args.steps // epochs)
    start = time.perf_counter()
    history = model.fit(
        train_videos[: steps_per_epoch * args.batch_size], batch_size=args.batch_size,
        epochs=epochs, verbose=0, callbacks=callbacks + [keras.callbacks.TerminateOnNaN()],
    )
    rows = callbacks[-1].rows
    events = callbacks[0].events if name == "layerlock" else []
    return {
        "name": name,
        "rows": rows,
        "events": events,
        "losses": step_losses.losses,  # per step
        "epoch_mean_losses": [float(v) for v in history.history["loss"]],
        "seconds": time.perf_counter() - start,
    }


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        ("effective_rank", "effective rank of encoder features"),
        ("feature_std", "std of normalised features"),
        ("probe_appearance", "linear probe: appearance accuracy"),
        ("probe_motion", "linear probe: motion accuracy"),
        ("knn_appearance", "k-NN (20) appearance accuracy"),
        ("knn_motion", "k-NN (20) motion accuracy"),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(18, 8))
    axes = axes.ravel()
    for result in results:
        steps = [r["step"] for r in result["rows"]]
        for ax, (key, title) in zip(axes, keys):
            ax.plot(steps, [r[key] for r in result["rows"]], "o-", label=result["name"], ms=3)
            ax.set(title=title, xlabel="step")
            if key == "feature_std":
                ax.set_yscale("log")
        for event in result["events"]:
            for ax in axes:
                ax.axvline(event["step"], color="grey", lw=0.5, ls=":")
    axes[0].legend()
    fig.suptitle("Collapse experiment (dotted: LayerLock freezing events)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--eval_every", type=int, default=100)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--latent_weight", type=float, default=1.0)
    parser.add_argument("--num_train", type=int, default=2048)
    parser.add_argument("--num_probe_train", type=int, default=1024)
    parser.add_argument("--num_probe_test", type=int, default=512)
    parser.add_argument("--probe_steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", nargs="+",
                        default=["mae", "mae+latent (constant)", "mae+latent (cosine)", "layerlock"])
    parser.add_argument("--output", default="outputs/collapse")
    args = parser.parse_args()

    suite = kl.data.ProceduralVideoSuite(num_frames=8, image_size=32)
    cache = kl.data.default_cache_dir()
    train = suite.load_split("train", args.num_train, cache_dir=cache)
    probe_train = suite.load_split("validation", args.num_probe_train, cache_dir=cache)
    probe_test = suite.load_split("test", args.num_probe_test, cache_dir=cache)
    train_videos = train["video"].astype("float32") / 255.0
    eval_sets = {
        "videos": np.concatenate([probe_train["video"], probe_test["video"]]).astype("float32") / 255.0,
        "num_train": args.num_probe_train,
        "appearance": np.concatenate([probe_train["appearance"], probe_test["appearance"]]),
        "motion": np.concatenate([probe_train["motion"], probe_test["motion"]]),
    }
    results = []
    for name in args.runs:
        print(f"== {name}", flush=True)
        result = run(name, args, train_videos, eval_sets)
        results.append(result)
        first, last = result["rows"][0], result["rows"][-1]
        best_rank = max(r["effective_rank"] for r in result["rows"])
        print(f"   {result['seconds']:.0f} s; effective rank {first['effective_rank']:.2f} -> "
              f"peak {best_rank:.2f} -> {last['effective_rank']:.2f}; feature std "
              f"{first['feature_std']:.4f} -> {last['feature_std']:.4f}; probe appearance "
              f"{first['probe_appearance']:.3f} -> {last['probe_appearance']:.3f}, motion "
              f"{first['probe_motion']:.3f} -> {last['probe_motion']:.3f}", flush=True)

    print("\nrun                      rank(start/peak/end)    std(end)  probe app (peak/end)  probe mot (peak/end)")
    for result in results:
        rows = result["rows"]
        print(f"{result['name']:<24} {rows[0]['effective_rank']:5.2f}/"
              f"{max(r['effective_rank'] for r in rows):5.2f}/{rows[-1]['effective_rank']:5.2f}"
              f"       {rows[-1]['feature_std']:.4f}   "
              f"{max(r['probe_appearance'] for r in rows):.3f}/{rows[-1]['probe_appearance']:.3f}"
              f"           {max(r['probe_motion'] for r in rows):.3f}/{rows[-1]['probe_motion']:.3f}")
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "collapse.json"), "w") as f:
        json.dump({"backend": keras.backend.backend(), "args": vars(args), "results": results}, f, indent=2)
    plot(results, os.path.join(args.output, "collapse.png"))
    print(f"Wrote {args.output}/collapse.json and collapse.png")


if __name__ == "__main__":
    main()
