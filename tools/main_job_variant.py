"""One main-job pretraining with recipe overrides, read out with the main job's protocol.

For ablations of a main-job model: the recipe behind `--model` (see
`recipes/main_job.py`'s `PRETRAINING`) gets the `--overrides` merged into
its `model`, `schedule`, `optimizer` and `backbone_overrides` entries, the
main job's own `pretrain` runs it (same data, seed, budget and schedule
scaling), and the resulting backbone is read out on `--tasks` with the
main job's protocol (linear probes on blocks 2 and 4, learning rates
{1e-3, 3e-3} chosen on 512 validation clips, 3 seeds on 1,024 test
clips, 95 % bootstrap intervals). One JSON line per run is appended to
`<output_dir>/results.jsonl` and printed.

Usage:
    python tools/main_job_variant.py --model layerlock_vjepa --tag l2 \\
        --overrides '{"model": {"loss": "l2"}}' [--tasks motion appearance]

About 11 minutes per run on the 2-core CPU machine (PyTorch); two runs
side by side with `OMP_NUM_THREADS=1` take about 12.
"""

import argparse
import copy
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras_layerlock as kl  # noqa: E402
from keras_layerlock.evaluation import protocol  # noqa: E402
from keras_layerlock.recipes import RECIPES  # noqa: E402
from recipes import main_job  # noqa: E402

OVERRIDABLE = {"model": "model", "schedule": "schedule", "optimizer": "optimizer",
               "backbone": "backbone_overrides"}


def apply_overrides(recipe_name, overrides):
    """Merges `overrides` into the registered recipe (in this process only);
    returns a copy of the recipe as it was."""
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(f"`--overrides` keys must be among {sorted(OVERRIDABLE)}; "
                         f"received {unknown}.")
    recipe = RECIPES[recipe_name]
    original = copy.deepcopy(recipe)
    for key, entry in OVERRIDABLE.items():
        if key in overrides:
            recipe.setdefault(entry, {}).update(overrides[key])
    return original


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, choices=sorted(main_job.PRETRAINING))
    parser.add_argument("--tag", required=True, help="name of this variant in the results")
    parser.add_argument("--overrides", default="{}", help="JSON: model / schedule / optimizer / backbone")
    parser.add_argument("--tasks", nargs="+", default=["motion", "appearance"],
                        choices=["motion", "appearance", "depth"])
    parser.add_argument("--output_dir", default="outputs/main_job_variants")
    parser.add_argument("--cache_dir", default=kl.data.default_cache_dir())
    args = parser.parse_args()
    overrides = json.loads(args.overrides)
    recipe_name = main_job.PRETRAINING[args.model][0]
    apply_overrides(recipe_name, overrides)

    budget = main_job.BUDGETS["default"]
    run_dir = os.path.join(args.output_dir, args.tag)
    job = argparse.Namespace(
        **budget, batch_size=16, num_validation=512, num_test=1024, num_seeds=3,
        learning_rates=[1e-3, 3e-3], layer_fractions=[0.5, 1.0], difficulty="standard",
        seed=0, data_seed=0, output_dir=run_dir, cache_dir=args.cache_dir, verbose=0)
    os.makedirs(run_dir, exist_ok=True)
    start = time.perf_counter()
    main_job.pretrain(job, args.model)
    fit_seconds = time.perf_counter() - start
    splits = {
        "train": main_job.suite_arrays(job, "train", job.num_readout_train),
        "validation": main_job.suite_arrays(job, "validation", job.num_validation),
        "test": main_job.suite_arrays(job, "test", job.num_test),
    }
    backbone = kl.VideoViTBackbone.from_preset(os.path.join(run_dir, "presets", args.model))
    rows = protocol.evaluate_frozen_backbone(
        backbone, splits, tasks=tuple(args.tasks), layer_fractions=job.layer_fractions,
        num_layers=main_job.NUM_ENCODER_LAYERS, learning_rates=job.learning_rates,
        num_steps=job.readout_steps, num_seeds=job.num_seeds, verbose=False)
    result = {"tag": args.tag, "model": args.model, "overrides": overrides,
              "fit_seconds": round(fit_seconds), "seconds": round(time.perf_counter() - start)}
    for task in args.tasks:
        result[task] = protocol.interval_row(rows[task]["test"])
    print(json.dumps(result), flush=True)
    with open(os.path.join(args.output_dir, "results.jsonl"), "a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
