"""What `NonFiniteGuard` costs per training step, on the running backend.

Trains the tiny video MAE (`video_vit_tiny`, batch 16, 8 x 32 x 32) for
`--steps` steps with the guard's snapshot interval set to each of
`--intervals` (0: no snapshot, loss check only), alternating the
settings over `--repeats` rounds so that they share the machine's noise,
and reports the best time per step of each and its ratio to interval 0.

Usage: KERAS_BACKEND=jax python tools/benchmark_non_finite_guard.py
       [--steps 25] [--repeats 2] [--intervals 0 1 10]
Prints a table and writes outputs/benchmarks/non_finite_guard_<backend>.json.
"""

import argparse
import json
import os
import time

import keras
import numpy as np

import keras_layerlock as kl


def seconds_per_step(videos, batch_size, interval):
    model = kl.LayerLockMAE(kl.VideoViTBackbone.from_preset("video_vit_tiny"), num_decoder_layers=2)
    model.compile(optimizer="adamw")
    guard = [kl.NonFiniteGuard(snapshot_every_n_steps=interval)]
    model.fit(videos[: 2 * batch_size], batch_size=batch_size, verbose=0, callbacks=guard)  # compile
    start = time.perf_counter()
    model.fit(videos, batch_size=batch_size, verbose=0, callbacks=guard)
    return (time.perf_counter() - start) / (len(videos) // batch_size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--intervals", type=int, nargs="+", default=[0, 1, 10])
    parser.add_argument("--output_dir", default="outputs/benchmarks")
    args = parser.parse_args()
    batch_size = 16
    videos = np.random.default_rng(0).random((batch_size * args.steps, 8, 32, 32, 3), dtype=np.float32)
    times = {interval: [] for interval in args.intervals}
    for _ in range(args.repeats):
        for interval in args.intervals:
            times[interval].append(seconds_per_step(videos, batch_size, interval))
    best = {interval: min(values) for interval, values in times.items()}
    base = best[args.intervals[0]]
    backend = keras.backend.backend()
    print(f"NonFiniteGuard cost on {backend} (best of {args.repeats}, {args.steps} steps)")
    print(f"{'snapshot every':>15} {'ms / step':>10} {'ratio':>7}")
    for interval in args.intervals:
        print(f"{interval:>15} {1000 * best[interval]:>10.1f} {best[interval] / base:>7.2f}")
    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, f"non_finite_guard_{backend}.json")
    with open(path, "w") as f:
        json.dump({"backend": backend, "steps": args.steps, "batch_size": batch_size,
                   "seconds_per_step": {str(k): v for k, v in times.items()},
                   "ratio_to_first": {str(k): v / base for k, v in best.items()}}, f, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
