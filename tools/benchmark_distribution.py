"""Correctness and overhead of `keras.distribution` on a simulated mesh.

Usage:
    python tools/benchmark_distribution.py [--steps 8] [--devices 8]

Runs a LayerLockMAE training step (ViT 128 wide, 6 blocks, 8 x 32 x 32
clips, batch 16) under JAX on `--devices` simulated CPU devices
(`XLA_FLAGS=--xla_force_host_platform_device_count`), in one process per
setting: one device, `DataParallel`, `ModelParallel` with the library's
layout map on a (data, model) mesh, each with and without rematerialised
blocks. Reports the median ms per step after warm-up, the ratio to one
device, and the largest difference of the losses from the one-device run.
The devices share this machine's cores, so the timings measure the
overhead of partitioning and collectives, not a speed-up. Writes
`outputs/benchmark_distribution.json` and a bar plot beside it.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = [("one device", "single", False), ("one device, remat", "single", True),
            ("DataParallel", "data_parallel", False),
            ("ModelParallel (data 4 x model 2)", "model_parallel", False),
            ("ModelParallel, remat", "model_parallel", True)]


def worker(mode, remat, steps, devices):
    sys.path.insert(0, ROOT)
    import keras
    import numpy as np

    import keras_layerlock as kl

    if mode == "data_parallel":
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=keras.distribution.list_devices()))
    elif mode == "model_parallel":
        mesh = keras.distribution.DeviceMesh((devices // 2, 2), ("batch", "model"),
                                             keras.distribution.list_devices())
        keras.distribution.set_distribution(keras.distribution.ModelParallel(
            layout_map=kl.LayerLockMAE.get_layout_map(mesh), batch_dim_name="batch"))
    keras.utils.set_random_seed(0)
    backbone = kl.VideoViTBackbone(hidden_dim=128, num_layers=6, num_heads=4,
                                   intermediate_dim=512, patch_size=(2, 8, 8), num_frames=8,
                                   image_size=32, remat=remat)
    model = kl.LayerLockMAE(backbone, num_decoder_layers=2, mask_ratio=0.75, seed=0)
    model.compile(keras.optimizers.AdamW(1e-4))
    batch = 16
    clips = np.random.default_rng(0).random(((steps + 2) * batch, 8, 32, 32, 3), "float32")

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self.losses = [], []

        def on_train_batch_begin(self, b, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, b, logs=None):
            self.losses.append(float(logs["loss"]))
            self.times.append(time.perf_counter() - self.start)

    timer = Timer()
    model.fit(clips, batch_size=batch, epochs=1, shuffle=False, callbacks=[timer], verbose=0)
    print(json.dumps({"ms": float(np.median(timer.times[2:]) * 1000), "losses": timer.losses}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--worker", nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--output", default=os.path.join(ROOT, "outputs",
                                                         "benchmark_distribution.json"))
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1] == "remat", args.steps, args.devices)
        return
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={args.devices}")
    results = {}
    for label, mode, remat in SETTINGS:
        out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--devices",
                              str(args.devices), "--worker", mode, "remat" if remat else "plain"],
                             env=env, capture_output=True, text=True, check=True)
        results[label] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{label}: {results[label]['ms']:.0f} ms/step", flush=True)
    base = results["one device"]
    print(f"\n| setting ({args.devices} simulated CPU devices) | ms / step | ratio to one device "
          "| max loss difference |")
    print("|---|---:|---:|---:|")
    for label, r in results.items():
        diff = max(abs(a - b) for a, b in zip(r["losses"], base["losses"]))
        r["ratio"], r["max_loss_difference"] = r["ms"] / base["ms"], diff
        print(f"| {label} | {r['ms']:.0f} | {r['ratio']:.2f} | {diff:.1e} |")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    ax.barh(list(results), [r["ms"] for r in results.values()])
    ax.set_xlabel("ms per training step (simulated devices share the CPU)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(args.output.replace(".json", ".png"), dpi=120)
    print(f"wrote {args.output} and its plot")


if __name__ == "__main__":
    main()
