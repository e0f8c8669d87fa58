"""Ships a trained backbone preset with the package, registered by name.

Copies a preset directory written by `save_to_preset` (the main job's
`presets/<model>/`) into `keras_layerlock/models/video_vit/trained_presets/
<name>/` and records in its `metadata.json` what it was trained on, how it
reads out (the main job's row for that model, with its intervals) and the
command that trained it. `import keras_layerlock` registers every shipped
preset, so `VideoViTBackbone.from_preset(name)` and
`keras_hub.models.Backbone.from_preset(name)` load it with its weights.

Usage:
    python tools/ship_trained_preset.py --main_job_dir outputs/main_job --model mae \
        --name video_vit_tiny_mae_procedural --command "python recipes/main_job.py ..."
"""

import argparse
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from keras_layerlock.models.video_vit.video_vit_presets import TRAINED_PRESETS_DIR  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--main_job_dir", required=True)
    parser.add_argument("--model", required=True, help="the main job's row, e.g. mae")
    parser.add_argument("--name", required=True)
    parser.add_argument("--description", default=None)
    parser.add_argument("--command", required=True, help="the command that trained it")
    args = parser.parse_args()
    with open(os.path.join(args.main_job_dir, "results.json")) as f:
        results = json.load(f)
    rows = {row["name"]: row for row in results["rows"]}
    if args.model not in rows:
        sys.exit(f"{args.model!r} is not a row of {args.main_job_dir}/results.json: {sorted(rows)}")
    source = os.path.join(args.main_job_dir, "presets", args.model)
    target = os.path.join(TRAINED_PRESETS_DIR, args.name)
    if os.path.exists(target):
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.keras"))
    with open(os.path.join(target, "metadata.json")) as f:
        metadata = json.load(f)
    floor = rows.get("random_init", {})
    metadata.update({
        "description": args.description or (
            f"Tiny video ViT pretrained as {args.model} on the built-in procedural suite "
            "(8 x 32 x 32 clips); read out at block 2 or 4."),
        "trained_on": {key: results.get("args", {}).get(key) for key in
                       ("steps", "num_pretrain", "batch_size", "difficulty", "seed",
                        "data_seed")} | {"suite": "keras_layerlock procedural, standard"},
        "results": {"model": rows[args.model], "random_init_floor": floor,
                    "backend": results.get("backend")},
        "command": args.command,
    })
    with open(os.path.join(target, "metadata.json"), "w") as f:
        json.dump(metadata, f, indent=2)
    print(f"shipped {args.name} in {target}: {sorted(os.listdir(target))}")


if __name__ == "__main__":
    main()
