"""Training-step speed of the library's video MAE against `transformers`'
VideoMAE in plain PyTorch, measured interleaved in one run.

Usage:
    python tools/benchmark_peers.py [--configs S M] [--rounds 5] [--steps 3] \
        [--implementations native native_compiled torch tensorflow jax] \
        [--position-encoding {sincos3d,rope3d,learned}]

Configurations (the speed issue's): encoder 192 wide, 6 blocks, 3 heads,
MLP 768; MAE decoder 96 wide, 4 blocks, 3 heads, MLP 384; AdamW; float32.
M: clips 16 x 64 x 64, tubelets 2 x 8 x 8, 90 % masked, batch 16.
S: clips 8 x 32 x 32, 75 % masked, batch 32.

Each implementation runs in its own process with one thread (OMP, MKL,
TensorFlow and XLA thread pools set to 1; JAX with the library's default
XLA flags, see `keras_layerlock.utils.keras_internals.configure_xla_cpu`),
builds its model and its clip batch (a backend tensor) once, warms up,
and then takes `--steps` training steps per round, the implementations
taking turns for `--rounds` rounds, so that they share the same window of
machine load. `native` is `transformers.VideoMAEForPreTraining` (the peer,
an optional benchmark dependency: `pip install -e ".[benchmark]"`), eager;
`native_compiled` the same under `torch.compile`; `torch`, `tensorflow`,
`jax` the library's `LayerLockMAE(decoder="mae")` under each backend
(`train_on_batch`, Keras' default compilation), with the peer's fixed
sine-cosine position embedding (`--position-encoding sincos3d`; LayerLock's
default `rope3d` rotates features in every block, which VideoMAE does not); `torch_jit` the library on
PyTorch with `jit_compile=True`. Reports the median ms per step, the ratio
to `native`, the parameter counts (equal within 0.1 % is the aim: the peer
has no bias on the key projection), the achieved GFLOP/s from the
library's analytic step FLOPs (`keras_layerlock.layerlock.flops`) and its
share of this machine's one-thread float32 matrix-multiply rate (measured
here with `torch.mm` 1024 x 1024). Writes `outputs/benchmark_peers.json`
and a plot beside it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {
    "S": {"frames": 8, "size": 32, "mask_ratio": 0.75, "batch": 32},
    "M": {"frames": 16, "size": 64, "mask_ratio": 0.9, "batch": 16},
}
WIDTH, LAYERS, HEADS, MLP = 192, 6, 3, 768
DECODER_WIDTH, DECODER_LAYERS, DECODER_HEADS, DECODER_MLP = 96, 4, 3, 384
TUBELET, PATCH = 2, 8
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
              "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
              "TF_CPP_MIN_LOG_LEVEL": "3"}
BACKENDS = {"torch": "torch", "torch_jit": "torch", "tensorflow": "tensorflow", "jax": "jax",
            "native": "torch", "native_compiled": "torch"}


# ------------------------------------------------------------------ workers
def library_step(config, implementation, position_encoding="sincos3d"):
    sys.path.insert(0, ROOT)
    import keras
    import numpy as np

    import keras_layerlock as kl
    from keras_layerlock.layerlock.flops import step_flops

    keras.utils.set_random_seed(0)
    backbone = kl.VideoViTBackbone(
        hidden_dim=WIDTH, num_layers=LAYERS, num_heads=HEADS, intermediate_dim=MLP,
        patch_size=(TUBELET, PATCH, PATCH), num_frames=config["frames"],
        image_size=config["size"], position_encoding=position_encoding)
    model = kl.LayerLockMAE(
        backbone, decoder="mae", decoder_hidden_dim=DECODER_WIDTH,
        decoder_num_layers=DECODER_LAYERS, decoder_num_heads=DECODER_HEADS,
        decoder_intermediate_dim=DECODER_MLP, mask_ratio=config["mask_ratio"], seed=0)
    jit = True if implementation == "torch_jit" else "auto"
    model.compile(keras.optimizers.AdamW(1e-4), jit_compile=jit)
    shape = (config["batch"], config["frames"], config["size"], config["size"], 3)
    # A backend tensor made once, as the peer's clips are one torch tensor:
    # the step times the step, not a host-to-device copy of the batch.
    x = keras.ops.convert_to_tensor(np.random.default_rng(0).random(shape, dtype="float32"))
    info = {"params": int(model.count_params()),
            "flops": float(step_flops(model, shape)["total"])}
    return (lambda: model.train_on_batch(x)), info


def native_step(config, implementation):
    import numpy as np
    import torch
    import transformers

    torch.manual_seed(0)
    peer = transformers.VideoMAEConfig(
        image_size=config["size"], patch_size=PATCH, num_frames=config["frames"],
        tubelet_size=TUBELET, hidden_size=WIDTH, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, intermediate_size=MLP, decoder_hidden_size=DECODER_WIDTH,
        decoder_num_hidden_layers=DECODER_LAYERS, decoder_num_attention_heads=DECODER_HEADS,
        decoder_intermediate_size=DECODER_MLP, norm_pix_loss=False)
    model = transformers.VideoMAEForPreTraining(peer).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    forward = torch.compile(model) if implementation == "native_compiled" else model
    batch, frames, size = config["batch"], config["frames"], config["size"]
    pixels = torch.from_numpy(np.random.default_rng(0).random(
        (batch, frames, 3, size, size), dtype="float32"))
    num_tokens = (frames // TUBELET) * (size // PATCH) ** 2
    num_masked = int(round(num_tokens * config["mask_ratio"]))

    def step():
        # VideoMAE needs the same number of masked tokens in every clip.
        noise = torch.rand(batch, num_tokens)
        masked = torch.zeros(batch, num_tokens, dtype=torch.bool)
        masked.scatter_(1, noise.argsort(dim=1)[:, :num_masked], True)
        loss = forward(pixels, bool_masked_pos=masked).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, {"params": int(sum(p.numel() for p in model.parameters()))}


def gemm_rate():
    import torch

    torch.set_num_threads(1)
    a, b = torch.rand(1024, 1024), torch.rand(1024, 1024)
    for _ in range(3):
        a @ b
    start, repeats = time.perf_counter(), 20
    for _ in range(repeats):
        a @ b
    return 2 * 1024 ** 3 * repeats / (time.perf_counter() - start) / 1e9


def worker(config_name, implementation, warmup, position_encoding):
    config = CONFIGS[config_name]
    if implementation.startswith("native"):
        import torch

        torch.set_num_threads(1)
        step, info = native_step(config, implementation)
    else:
        if BACKENDS[implementation] == "torch":
            import torch

            torch.set_num_threads(1)
        step, info = library_step(config, implementation, position_encoding)
    for _ in range(warmup):
        step()
    print("ready " + json.dumps(info), flush=True)
    for line in sys.stdin:
        count = int(line.split()[1])
        times = []
        for _ in range(count):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        print(json.dumps(times), flush=True)


# -------------------------------------------------------------- coordinator
def start(config_name, implementation, warmup, position_encoding):
    env = dict(os.environ, KERAS_BACKEND=BACKENDS[implementation], **ONE_THREAD)
    return subprocess.Popen(
        [sys.executable, __file__, "--worker", config_name, implementation, "--warmup",
         str(warmup), "--position-encoding", position_encoding],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def read_ready(process, name):
    for line in process.stdout:
        if line.startswith("ready "):
            return json.loads(line[len("ready "):])
    raise RuntimeError(f"{name} ended before it was ready (exit {process.wait()}).")


def benchmark(config_name, implementations, rounds, steps, warmup, position_encoding):
    processes = {name: start(config_name, name, warmup, position_encoding)
                 for name in implementations}
    infos = {name: read_ready(p, name) for name, p in processes.items()}
    times = {name: [] for name in implementations}
    for _ in range(rounds):
        for name, process in processes.items():
            process.stdin.write(f"run {steps}\n")
            process.stdin.flush()
            times[name] += json.loads(process.stdout.readline())
    for process in processes.values():
        process.stdin.close()
        process.wait()
    flops = next((i["flops"] for i in infos.values() if "flops" in i), None)
    return {name: {**infos[name], "ms": 1000 * statistics.median(times[name]),
                   "flops": flops} for name in implementations}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=["S", "M"], choices=sorted(CONFIGS))
    parser.add_argument("--implementations", nargs="+",
                        default=["native", "native_compiled", "torch", "tensorflow", "jax"],
                        choices=sorted(BACKENDS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--position-encoding", default="sincos3d",
                        choices=["sincos3d", "rope3d", "learned"],
                        help="the library's; sincos3d (default) is the peer's")
    parser.add_argument("--worker", nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--output", default=os.path.join(ROOT, "outputs", "benchmark_peers.json"))
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.warmup, args.position_encoding)
        return
    env = dict(os.environ, **ONE_THREAD)
    peak = float(subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r});"
         "import benchmark_peers as b; print(b.gemm_rate())"],
        env=env, capture_output=True, text=True, check=True).stdout.split()[-1])
    print(f"one-thread float32 matmul (torch.mm 1024^3): {peak:.1f} GFLOP/s")
    results = {"gemm_gflops": peak, "position_encoding": args.position_encoding, "configs": {}}
    for name in args.configs:
        rows = benchmark(name, args.implementations, args.rounds, args.steps, args.warmup,
                         args.position_encoding)
        native = rows.get("native", {}).get("ms")
        print(f"\nconfiguration {name} {CONFIGS[name]}")
        print("| implementation | parameters | ms / step | ratio to native | GFLOP/s | "
              "share of matmul peak |")
        print("|---|---:|---:|---:|---:|---:|")
        for impl, row in rows.items():
            row["ratio"] = row["ms"] / native if native else None
            row["gflops"] = row["flops"] / row["ms"] / 1e6 if row["flops"] else None
            ratio = f"{row['ratio']:.2f}" if row["ratio"] else "-"
            rate = f"{row['gflops']:.1f}" if row["gflops"] else "-"
            share = f"{row['gflops'] / peak:.0%}" if row["gflops"] else "-"
            print(f"| {impl} | {row['params']:,} | {row['ms']:,.0f} | {ratio} | {rate} | "
                  f"{share} |")
        results["configs"][name] = rows
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results["configs"]), figsize=(5 * len(results["configs"]), 3),
                             squeeze=False)
    for ax, (name, rows) in zip(axes[0], results["configs"].items()):
        ax.barh(list(rows), [r["ms"] for r in rows.values()])
        ax.set_title(f"configuration {name}")
        ax.set_xlabel("ms per training step (one thread)")
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(args.output.replace(".json", ".png"), dpi=120)
    print(f"wrote {args.output} and its plot")


if __name__ == "__main__":
    main()
