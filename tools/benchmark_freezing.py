"""Step time, peak memory and analytic FLOPs against the number of frozen blocks.

The analogue of LayerLock's efficiency figure (Erdogan et al., 2025, Fig. 3)
for the tiny recipe: the same MAE step (pixel targets) with 0, 1/4, 1/2 and
3/4 of the encoder blocks frozen (the patch embedding frozen with the first
block), on each backend.

Step time: one process per backend trains one model per number of frozen blocks,
round-robin (a few steps of each in turn, `--steps` per depth after
`--warmup`, at `--batch_size`), so that slow periods of the machine hit
every point alike; a point's time is the median of its step times.
Peak memory: one process per (backend, depth), since a process's peak RSS
is that of its largest step (a training run reaches its peak before its
first freeze); 4 steps at `--memory_batch_size`, large so that the
activation memory that freezing saves stands out of allocator and
compiler noise. With `--repeats` > 1 every measurement is repeated
(interleaved across backends) and a point reports the median over repeats.
Also reported: the analytic FLOPs of a step
(`keras_layerlock.layerlock.flops`). The target: on every backend, the
measured step-time saving at 3/4 frozen is at least 70 % of the analytic
FLOP saving, and peak memory falls with the number of frozen blocks.

Usage:
    python tools/benchmark_freezing.py [--backends jax torch tensorflow]
        [--batch_size 64] [--steps 60] [--warmup 10] [--repeats 3]
        [--output outputs/benchmarks/freezing]
Writes `freezing.json` and `freezing.png` under the output folder.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRACTIONS = (0.0, 0.25, 0.5, 0.75)
# Steps of one model before the round-robin timing moves to the next.
STEPS_PER_ROUND = 4


def _build(recipe_name, fraction):
    sys.path.insert(0, ROOT)
    from keras_layerlock.recipes import build

    model, _, optimizer = build(recipe_name)
    depth = int(round(fraction * model.num_encoder_layers))
    model.set_layerlock_state(depth, 0)
    model.compile(optimizer=optimizer)
    return model, depth


def _step_timer(times):
    import keras

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if logs is not None and "loss" in logs:
                float(logs["loss"])  # wait for the step to finish
            times.append(time.perf_counter() - self.start)

    return StepTimer()


def _fit_steps(model, data, batch, num_steps, callbacks):
    # Whole passes over `data` (4 batches): Keras does not restart a NumPy
    # iterator that a shorter `steps_per_epoch` leaves unfinished.
    model.fit(data, batch_size=batch, epochs=-(-num_steps // 4), steps_per_epoch=4,
              verbose=0, callbacks=callbacks, shuffle=False)


def timing_worker(args):
    """Step times of every number of frozen blocks, measured round-robin in one process.

    One model per depth; each round runs `STEPS_PER_ROUND` steps of every
    model in turn, so that a slow period of the machine (other processes,
    thermal or frequency changes) hits all depths alike instead of biasing
    whichever depth happened to run during it.
    """
    import keras
    import numpy as np

    sys.path.insert(0, ROOT)
    from keras_layerlock.layerlock.flops import layerlock_step_flops

    keras.utils.set_random_seed(0)
    models = [_build(args.recipe, fraction) for fraction in FRACTIONS]
    batch = args.batch_size
    backbone = models[0][0].backbone
    shape = (batch, backbone.num_frames) + backbone.image_size + (3,)
    data = np.random.default_rng(0).random((batch * 4,) + shape[1:], dtype="float32")
    times = {depth: [] for _, depth in models}
    for model, depth in models:  # compile and warm up
        _fit_steps(model, data, batch, args.warmup, [])
    num_rounds = -(-args.steps // STEPS_PER_ROUND)
    for _ in range(num_rounds):
        for model, depth in models:
            _fit_steps(model, data, batch, STEPS_PER_ROUND, [_step_timer(times[depth])])
    rows = []
    for (model, depth), fraction in zip(models, FRACTIONS):
        flops = layerlock_step_flops(model, shape)
        rows.append({
            "backend": keras.backend.backend(),
            "frozen_fraction": fraction,
            "num_frozen_layers": depth,
            "num_encoder_layers": model.num_encoder_layers,
            "median_step_seconds": statistics.median(times[depth]),
            "num_timed_steps": len(times[depth]),
            "batch_size": batch,
            "flops_per_step": flops["total"],
            "flops_parts": flops,
        })
    print(json.dumps(rows))


def memory_worker(args):
    """Peak RSS of a few training steps with one number of frozen blocks (own process)."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model, depth = _build(args.recipe, args.fraction)
    batch = args.batch_size
    backbone = model.backbone
    shape = (batch, backbone.num_frames) + backbone.image_size + (3,)
    data = np.random.default_rng(0).random((batch * 4,) + shape[1:], dtype="float32")
    _fit_steps(model, data, batch, args.steps, [])
    print(json.dumps({
        "backend": keras.backend.backend(),
        "num_frozen_layers": depth,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for backend in sorted({r["backend"] for r in rows}):
        rs = sorted((r for r in rows if r["backend"] == backend), key=lambda r: r["num_frozen_layers"])
        depth = [r["num_frozen_layers"] for r in rs]
        axes[0].plot(depth, [1e3 * r["median_step_seconds"] for r in rs], "o-", label=backend)
        axes[1].plot(depth, [r["memory_run_peak_rss_mb"] for r in rs], "o-", label=backend)
    rs = sorted((r for r in rows if r["backend"] == rows[0]["backend"]), key=lambda r: r["num_frozen_layers"])
    axes[2].plot([r["num_frozen_layers"] for r in rs], [r["flops_per_step"] / 1e9 for r in rs], "o-k")
    axes[0].set(title="step time", xlabel="frozen encoder blocks", ylabel="ms / step")
    axes[1].set(title="peak RSS (memory runs)", xlabel="frozen encoder blocks", ylabel="MB")
    axes[2].set(title="analytic FLOPs", xlabel="frozen encoder blocks", ylabel="GFLOP / step")
    for ax in axes[:2]:
        ax.legend()
    fig.suptitle("LayerLock tiny recipe: cost of one MAE step against the number of frozen blocks")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", nargs="+", default=["jax", "torch", "tensorflow"])
    parser.add_argument("--recipe", default="tiny")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument(
        "--batch_size", type=int, default=64,
        help="larger than the recipe's 16 so that activations, not the "
        "framework's fixed costs, dominate step time and memory",
    )
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument(
        "--repeats", type=int, default=3,
        help="repeats of every measurement (a point reports the median over "
        "repeats of its step time and of its peak memory)",
    )
    parser.add_argument(
        "--memory_batch_size", type=int, default=256,
        help="batch of the separate peak-memory runs (4 steps each): large "
        "enough that activation memory stands out of allocator noise",
    )
    parser.add_argument("--output", default="outputs/benchmarks/freezing")
    parser.add_argument("--worker", choices=["timing", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--fraction", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--summarize_only", action="store_true",
                        help="re-aggregate the repeats of an existing freezing.json")
    args = parser.parse_args()
    if args.worker == "timing":
        return timing_worker(args)
    if args.worker == "memory":
        return memory_worker(args)
    if args.summarize_only:
        with open(os.path.join(args.output, "freezing.json")) as f:
            rows = json.load(f)["rows"]
        backends = [b for b in args.backends if any(r["backend"] == b for r in rows)]
        return summarize(rows, backends, args.output)

    def run_worker(kind, backend, fraction, steps, warmup, batch_size):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        out = subprocess.run(
            [sys.executable, __file__, "--worker", kind, "--recipe", args.recipe,
             "--fraction", str(fraction), "--steps", str(steps),
             "--warmup", str(warmup), "--batch_size", str(batch_size)],
            env=env, cwd=ROOT, capture_output=True, text=True,
        )
        if out.returncode:
            sys.exit(f"{backend} {kind} worker failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    # Step times: every point of a backend in one process, round-robin
    # (see `timing_worker`). Peak memory: one process per depth. Repeats
    # are interleaved across backends; a point reports the median over
    # repeats of both.
    runs = {}
    for repeat in range(args.repeats):
        for backend in args.backends:
            timings = run_worker("timing", backend, 0.0, args.steps, args.warmup, args.batch_size)
            for fraction, timing in zip(FRACTIONS, timings):
                memory = run_worker("memory", backend, fraction, 4, 0, args.memory_batch_size)
                runs.setdefault((backend, fraction), []).append((timing, memory))
                print(f"repeat {repeat + 1}/{args.repeats} {backend:<11} depth "
                      f"{timing['num_frozen_layers']}: "
                      f"{1e3 * timing['median_step_seconds']:.1f} ms/step at batch "
                      f"{args.batch_size}, peak {memory['peak_rss_mb']:.0f} MB at batch "
                      f"{args.memory_batch_size}", flush=True)
    rows = []
    for (backend, fraction), pairs in runs.items():
        row = dict(pairs[0][0])
        row["repeat_median_step_seconds"] = [t["median_step_seconds"] for t, _ in pairs]
        row["memory_batch_size"] = args.memory_batch_size
        row["repeat_memory_run_peak_rss_mb"] = [m["peak_rss_mb"] for _, m in pairs]
        rows.append(row)
    summarize(rows, args.backends, args.output)


def summarize(rows, backends, output):
    """Aggregates repeats, prints the table, writes JSON and the plot."""
    for row in rows:
        row["median_step_seconds"] = statistics.median(row["repeat_median_step_seconds"])
        row["memory_run_peak_rss_mb"] = statistics.median(row["repeat_memory_run_peak_rss_mb"])

    print("\nbackend     frozen  ms/step  saving  FLOP saving  ratio  peak MB (memory run)")
    summary = {}
    for backend in backends:
        rs = sorted((r for r in rows if r["backend"] == backend), key=lambda r: r["num_frozen_layers"])
        base = rs[0]
        for r in rs:
            saving = 1 - r["median_step_seconds"] / base["median_step_seconds"]
            flop_saving = 1 - r["flops_per_step"] / base["flops_per_step"]
            r["step_time_saving"] = saving
            r["flop_saving"] = flop_saving
            ratio = saving / flop_saving if flop_saving else float("nan")
            print(f"{backend:<11} {r['num_frozen_layers']}/{r['num_encoder_layers']}     "
                  f"{1e3 * r['median_step_seconds']:7.1f}  {saving:+6.1%}  {flop_saving:+10.1%}  "
                  f"{ratio:5.2f}  {r['memory_run_peak_rss_mb']:20.0f}")
        last = rs[-1]
        summary[backend] = {
            "saving_ratio_at_three_quarters": last["step_time_saving"] / last["flop_saving"],
            "meets_70_percent_target": last["step_time_saving"] >= 0.7 * last["flop_saving"],
            "peak_memory_falls": all(
                b["memory_run_peak_rss_mb"] <= a["memory_run_peak_rss_mb"]
                for a, b in zip(rs, rs[1:])
            ),
        }
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "freezing.json"), "w") as f:
        json.dump({"rows": rows, "summary": summary}, f, indent=2)
    plot(rows, os.path.join(output, "freezing.png"))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
