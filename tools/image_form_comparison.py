"""The image form of the suite: MAE, ViC-MAE and its baselines pretrained on frames.

Every clip of the procedural suite (8 x 32 x 32) gives one image, its first
frame, labelled with the clip's appearance class (motion cannot be seen in
one frame). Each method pretrains the tiny backbone (`video_vit_tiny`, its
recipe's 4 decoder blocks) on the images for `--steps` steps at batch
`--batch_size` (equal budget): plain MAE on the image tiled to the tubelet
depth (the backbone's image path), ViC-MAE, MAE + SimSiam and MAE + VICReg
on the image and an augmented copy (flip, crop of [0.5, 1] of its area).
The encoder (blocks 1-4) is then read out with the suite's protocol
(linear probes on standardised tokens of blocks 2 and 4, the block chosen
on validation images, 3 seeds on test images, 95 % bootstrap intervals),
beside a randomly initialised backbone (the floor).

Usage:
    python tools/image_form_comparison.py [--steps 800] [--methods ...]
Prints a table; writes outputs/image_form/results.json and results.md.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_layerlock as kl  # noqa: E402
from keras_layerlock.recipes import build  # noqa: E402

RECIPES = {"mae": "tiny", "vic_mae": "tiny_vic_mae", "mae_sim_siam": "tiny_mae_sim_siam",
           "mae_vic_reg": "tiny_mae_vic_reg"}
NUM_ENCODER_LAYERS = 4


def image_split(suite, split, count, cache_dir):
    data = suite.load_split(split, count, cache_dir=cache_dir, verbose=False)
    return {"video": data["video"][:, 0], "appearance": data["appearance"]}


def pretrain(name, images, args):
    keras.utils.set_random_seed(args.seed)
    model, _, optimizer = build(RECIPES[name], total_steps=args.steps)
    model.compile(optimizer=optimizer)
    inputs = images
    if not isinstance(model, kl.TwoViewMAE):
        inputs = np.repeat(images[:, None], model.backbone.patch_size[0], axis=1)
    epochs = -(-args.steps // (len(inputs) // args.batch_size))
    steps_per_epoch = -(-args.steps // epochs)
    inputs = inputs[: steps_per_epoch * args.batch_size]
    start = time.perf_counter()
    history = model.fit(inputs, batch_size=args.batch_size, epochs=epochs, verbose=args.verbose)
    return model.backbone, time.perf_counter() - start, history.history["loss"][-1]


def read_out(backbone, splits, args):
    layers = sorted({kl.evaluation.feature_layer_at_fraction(f, NUM_ENCODER_LAYERS)
                     for f in (0.5, 1.0)})
    features = {split: kl.evaluation.compute_layer_features(
        backbone, data["video"].astype("float32") / 255.0, layers) for split, data in splits.items()}
    rows = kl.evaluation.protocol.evaluate_features(
        features, splits, NUM_ENCODER_LAYERS, tasks=("appearance",), num_steps=args.readout_steps,
        num_seeds=args.num_seeds, learning_rates=(3e-3,),
        token_grid=tuple(backbone.grid_shape((1,) + splits["test"]["video"].shape[1:])))
    return kl.evaluation.protocol.interval_row(rows["appearance"]["test"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--num_train", type=int, default=4096)
    parser.add_argument("--num_validation", type=int, default=512)
    parser.add_argument("--num_test", type=int, default=1024)
    parser.add_argument("--readout_steps", type=int, default=500)
    parser.add_argument("--num_seeds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--output_dir", default="outputs/image_form")
    parser.add_argument("--cache_dir", default=kl.data.default_cache_dir())
    args = parser.parse_args()

    start = time.perf_counter()
    suite = kl.data.ProceduralVideoSuite(num_frames=8, image_size=32)
    splits = {split: image_split(suite, split, count, args.cache_dir)
              for split, count in (("train", args.num_train), ("validation", args.num_validation),
                                   ("test", args.num_test))}
    images = splits["train"]["video"].astype("float32") / 255.0
    keras.utils.set_random_seed(args.seed)
    random_backbone = kl.VideoViTBackbone.from_preset("video_vit_tiny", num_layers=NUM_ENCODER_LAYERS)
    rows = [{"name": "random_init (floor)", "appearance": read_out(random_backbone, splits, args)}]
    for name in args.methods:
        print(f"Pretraining {name} on {len(images)} images, {args.steps} steps", flush=True)
        backbone, seconds, loss = pretrain(name, images, args)
        rows.append({"name": name, "appearance": read_out(backbone, splits, args),
                     "train_seconds": seconds, "final_loss": loss})
    floor = rows[0]["appearance"]
    lines = ["| model | appearance acc (images) | clears floor | train s |", "|---|---|---|---|"]
    for row in rows:
        a = row["appearance"]
        clears = "-" if row is rows[0] else ("yes" if a["low"] > floor["high"] else "no")
        seconds = f"{row['train_seconds']:.0f}" if "train_seconds" in row else "-"
        lines.append(f"| {row['name']} | {a['value']:.3f} [{a['low']:.3f}, {a['high']:.3f}] | "
                     f"{clears} | {seconds} |")
    table = "\n".join(lines)
    total = time.perf_counter() - start
    print("\n" + table + f"\n\nTotal {total:.0f} s on {keras.backend.backend()}.")
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "results.json"), "w") as f:
        json.dump({"backend": keras.backend.backend(), "args": vars(args), "rows": rows,
                   "total_seconds": total}, f, indent=2)
    with open(os.path.join(args.output_dir, "results.md"), "w") as f:
        f.write(table + f"\n\nTotal {total:.0f} s on {keras.backend.backend()}.\n")


if __name__ == "__main__":
    main()
