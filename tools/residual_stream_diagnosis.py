"""Where a pretraining run's features go: residual-stream scale and content per block.

Trains a recipe (`keras_layerlock.recipes`) for a few hundred steps and, at
intervals, measures the online encoder on fixed validation clips of the
procedural suite, for the embedded tokens (block 0) and chosen blocks:

- `rms`: root mean square of the token features;
- `constant`: the share of the tokens' energy in the one vector shared by
  every token of every clip (mean over clips and positions);
- `content`: the share that is not shared by every clip at a position
  (what a readout can use).

It showed the tiny V-JEPA's first block filling with one constant vector
within 50 steps on PyTorch, which led to the bug behind it (the online
encoder's gradients were summed over steps; README, main job section).

Usage:
    python tools/residual_stream_diagnosis.py --recipe tiny_vjepa --steps 150
    python tools/residual_stream_diagnosis.py --recipe tiny --steps 150
    python tools/residual_stream_diagnosis.py --recipe tiny_vjepa \
        --model '{"loss": "l2"}' --optimizer '{"learning_rate": 1e-4}'
"""

import argparse
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_layerlock as kl  # noqa: E402
from keras_layerlock.recipes import RECIPES  # noqa: E402
from keras_layerlock.recipes import build  # noqa: E402


def stream_statistics(backbone, videos, blocks):
    """`{block: {"rms", "constant", "content"}}` of the backbone's features."""
    outputs = backbone.predict(videos, verbose=0)
    stats = {}
    for block in blocks:
        f = np.asarray(outputs[block], "float64")
        energy = (f**2).sum()
        constant = f.mean((0, 1))
        stats[block] = {
            "rms": float(np.sqrt((f**2).mean())),
            "constant": float((constant**2).sum() * f.shape[0] * f.shape[1] / energy),
            "content": float(((f - f.mean(0)) ** 2).sum() / energy),
        }
    return stats


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="tiny_vjepa", choices=sorted(RECIPES))
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--every", type=int, default=50, help="steps between measurements")
    parser.add_argument("--schedule_steps", type=int, default=1000,
                        help="length of the learning-rate schedule (as in a full run)")
    parser.add_argument("--blocks", type=int, nargs="+", default=[0, 1, 4])
    parser.add_argument("--model", default="{}", help="JSON overrides of the recipe's model")
    parser.add_argument("--optimizer", default="{}",
                        help="JSON overrides of the recipe's optimizer")
    parser.add_argument("--backbone", default="{}", help="JSON backbone overrides")
    parser.add_argument("--num_clips", type=int, default=256, help="measurement clips")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="outputs/residual_stream/diagnosis.json")
    args = parser.parse_args()

    recipe = RECIPES[args.recipe]
    recipe["model"].update(json.loads(args.model))
    recipe["optimizer"].update(json.loads(args.optimizer))
    keras.utils.set_random_seed(args.seed)
    suite = kl.data.ProceduralVideoSuite(num_frames=8, image_size=32, seed=0)
    train = kl.evaluation.protocol.videos_of(suite.load_split("train", 4096))
    probe = kl.evaluation.protocol.videos_of(suite.load_split("validation", args.num_clips))
    model, _, optimizer = build(args.recipe, total_steps=args.schedule_steps,
                                **json.loads(args.backbone))
    model.compile(optimizer=optimizer)
    batch_size = recipe.get("batch_size", 16)
    rows = [{"step": 0, "blocks": stream_statistics(model.backbone, probe, args.blocks)}]
    for start in range(0, args.steps, args.every):
        count = min(args.every, args.steps - start)
        # Consecutive batches, wrapping around the clips, so that every
        # requested step is taken however long the run.
        indices = np.arange(start * batch_size, (start + count) * batch_size) % len(train)
        model.fit(train[indices], batch_size=batch_size, epochs=1, verbose=1)
        rows.append({"step": start + count,
                     "blocks": stream_statistics(model.backbone, probe, args.blocks)})

    header = "| step | " + " | ".join(f"block {b}: rms / constant / content" for b in args.blocks)
    print("\n" + header + " |\n|" + "---|" * (len(args.blocks) + 1))
    for row in rows:
        cells = [f"{s['rms']:.2f} / {s['constant']:.3f} / {s['content']:.3f}"
                 for s in (row["blocks"][b] for b in args.blocks)]
        print(f"| {row['step']} | " + " | ".join(cells) + " |")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump({"args": vars(args), "backend": keras.backend.backend(), "rows": rows}, f,
                  indent=2)
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
