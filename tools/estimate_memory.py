"""Per-device memory of the papers' pretraining steps on common meshes.

Usage:
    python tools/estimate_memory.py                 # the table
    KERAS_BACKEND=jax python tools/estimate_memory.py --check   # + XLA check

Prints, for 4DS ViT-G and ViT-e (LayerLock MAE, batch 2048, 16 x 224 x 224
clips, patch 2 x 16 x 16, 95 % masked, the last 4 blocks decoding all 1,568
tokens) and V-JEPA ViT-L (batch 2048, the LayerLock supplement's masks, a
12-block 384-wide predictor, an EMA teacher), the estimate of
`keras_layerlock.distribution.memory_estimate` per device on 8 x H100
(80 GB) and a TPU v5p slice (95 GB per chip) meshes, in bf16 with flash
attention, with and without rematerialised blocks, before any freezing and
with half the encoder frozen. `--check` compiles the training step of small
models with JAX on this machine and compares the estimate (float32, scores
stored, as XLA on CPU computes them) with XLA's own memory accounting of the
compiled step (arguments + temporaries + outputs). Writes
`outputs/memory_estimate.json`.
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from keras_layerlock.distribution.memory_estimate import GIB  # noqa: E402
from keras_layerlock.distribution.memory_estimate import StackSpec  # noqa: E402
from keras_layerlock.distribution.memory_estimate import estimate  # noqa: E402

TOKENS = 8 * 14 * 14  # 16 x 224 x 224 clips in 2 x 16 x 16 tubelets
PATCH_PARAMS = 2 * 16 * 16 * 3
MESHES = [  # (name, data shards, model shards, GB per device)
    ("8 x H100, data 8", 8, 1, 80),
    ("8 x H100, data 2 x model 4", 2, 4, 80),
    ("8 x H100, model 8", 1, 8, 80),
    ("TPU v5p-512 (256 chips), data 32 x model 8", 32, 8, 95),
    ("TPU v5p-512 (256 chips), data 256", 256, 1, 95),
]


def layerlock_mae(width, layers, mlp, heads, mask_ratio=0.95, decoder_layers=4):
    visible = round(TOKENS * (1 - mask_ratio))
    encoder = StackSpec(layers - decoder_layers, width, mlp, heads, visible)
    decoder = StackSpec(decoder_layers, width, mlp, heads, TOKENS)
    heads_params = PATCH_PARAMS * width + width * PATCH_PARAMS + width
    return {"stacks": [encoder, decoder], "other_params": heads_params, "ema_params": 0,
            "frozen": (layers - decoder_layers) // 2}


def vjepa(width, layers, mlp, heads, context_tokens, predictor_tokens):
    encoder = StackSpec(layers, width, mlp, heads, context_tokens)
    predictor = StackSpec(12, 384, 4 * 384, 12, predictor_tokens)
    teacher = StackSpec(layers, width, mlp, heads, TOKENS, trainable=False,
                        keeps_activations=False)
    teacher_params = layers * teacher.params_per_layer + PATCH_PARAMS * width
    return {"stacks": [encoder, predictor],
            "other_params": PATCH_PARAMS * width + 2 * width * 384,
            "ema_params": teacher_params, "frozen": layers // 2}


def vjepa_token_counts():
    """Static context and target sizes of LayerLock's V-JEPA masks (8
    blocks of 30 %) on the 8 x 14 x 14 grid, as the library pads them."""
    from keras_layerlock.layers.multiblock_masking import MULTIBLOCK_PRESETS
    from keras_layerlock.layers.multiblock_masking import MultiblockMasking

    return MultiblockMasking(**MULTIBLOCK_PRESETS["layerlock"][0]).token_counts((8, 14, 14))


def configurations():
    context, target = vjepa_token_counts()
    return {
        "4DS ViT-G, LayerLock MAE": layerlock_mae(1664, 48, 8192, 16),
        "4DS ViT-e, LayerLock MAE": layerlock_mae(1792, 56, 15360, 16),
        f"V-JEPA ViT-L (context {context}, targets {target})": vjepa(
            1024, 24, 4096, 16, context, context + target),
    }


def table(batch):
    rows = []
    for name, config in configurations().items():
        for mesh, data, model, capacity in MESHES:
            row = {"model": name, "mesh": mesh, "batch": batch, "device_gb": capacity}
            for label, remat, frozen in (("plain", False, 0), ("remat", True, 0),
                                         ("remat, half frozen", True, config["frozen"])):
                parts = estimate(config["stacks"], config["other_params"], batch, model, data,
                                 remat=remat, num_frozen_layers=frozen,
                                 ema_params=config["ema_params"])
                row[label] = {k: round(v / GIB, 2) for k, v in parts.items()}
            rows.append(row)
    return rows


def check():
    """XLA's accounting of small compiled steps against the estimate."""
    import jax
    import keras
    import numpy as np

    import keras_layerlock as kl

    results = []
    for width, layers, batch in ((64, 4, 8), (128, 6, 8), (128, 6, 32)):
        keras.utils.set_random_seed(0)
        backbone = kl.VideoViTBackbone(hidden_dim=width, num_layers=layers, num_heads=4,
                                       intermediate_dim=4 * width, patch_size=(2, 8, 8),
                                       num_frames=8, image_size=32)
        model = kl.LayerLockMAE(backbone, num_decoder_layers=2, mask_ratio=0.75, seed=0)
        model.compile(keras.optimizers.AdamW(1e-3))
        x = np.zeros((batch, 8, 32, 32, 3), "float32")
        model(x[:1])
        model.optimizer.build(model.trainable_variables)
        optimizer = [v.value for v in model.optimizer.variables]
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        metrics = [v.value for v in model.metrics_variables]

        def loss(trainable, non_trainable, metrics, x):
            value, _ = model.compute_loss_and_updates(
                trainable, non_trainable, metrics, x, None, None, training=True,
                optimizer_variables=optimizer)
            return value

        compiled = jax.jit(jax.value_and_grad(loss)).lower(
            trainable, non_trainable, metrics, x).compile()
        stats = compiled.memory_analysis()
        measured = (stats.argument_size_in_bytes + stats.temp_size_in_bytes
                    + stats.output_size_in_bytes)
        tokens = 4 * 4 * 4
        visible = model.num_visible_tokens(x.shape)
        stacks = [StackSpec(layers - 2, width, 4 * width, 4, visible),
                  StackSpec(2, width, 4 * width, 4, tokens)]
        params = model.count_params()
        other = params - sum(s.num_layers * s.params_per_layer for s in stacks)
        parts = estimate(stacks, other, batch, flash_attention=False, bytes_per_value=4)
        estimated = parts["weights"] + parts["gradients"] + parts["activations"] + x.nbytes
        results.append({"width": width, "layers": layers, "batch": batch,
                        "estimate_mb": round(estimated / 2 ** 20, 2),
                        "xla_mb": round(measured / 2 ** 20, 2),
                        "ratio": round(measured / estimated, 2)})
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--output", default=os.path.join(ROOT, "outputs", "memory_estimate.json"))
    args = parser.parse_args()
    rows = table(args.batch)
    print("| model | mesh | GB per device: plain | remat | remat, half frozen | fits |")
    print("|---|---|---:|---:|---:|---|")
    for row in rows:
        totals = [row[k]["total"] for k in ("plain", "remat", "remat, half frozen")]
        fits = ", ".join(k for k, t in zip(("plain", "remat", "half frozen"), totals)
                         if t <= 0.9 * row["device_gb"]) or "no"
        print(f"| {row['model']} | {row['mesh']} | {totals[0]:,.1f} | {totals[1]:,.1f} | "
              f"{totals[2]:,.1f} | {fits} |")
    checks = check() if args.check else []
    if checks:
        print("\n| width | blocks | batch | estimate MB | XLA MB | XLA / estimate |")
        print("|---:|---:|---:|---:|---:|---:|")
        for c in checks:
            print(f"| {c['width']} | {c['layers']} | {c['batch']} | {c['estimate_mb']} | "
                  f"{c['xla_mb']} | {c['ratio']} |")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump({"table": rows, "check": checks}, f, indent=2)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
