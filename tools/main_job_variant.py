"""One main-job pretraining with recipe overrides, read out with the main job's protocol.

For ablations of a main-job model: the recipe behind `--model` (see
`recipes/main_job.py`'s `PRETRAINING`) gets the `--overrides` merged into
its `model`, `schedule`, `optimizer` and `backbone_overrides` entries, the
main job's own `pretrain` runs it (same data, seed, budget and schedule
scaling), and the resulting backbone is read out on `--tasks` with the
main job's protocol (linear probes on blocks 2 and 4, the block chosen on
512 validation clips, 3 seeds on 1,024 test clips, 95 % bootstrap
intervals), at the main job's default budget unless `--steps` and
`--learning_rates` say otherwise. One JSON line per run is appended to
`<output_dir>/results.jsonl` and printed.

Usage:
    python tools/main_job_variant.py --model layerlock_vjepa --tag l2 \\
        --overrides '{"model": {"loss": "l2"}}' [--tasks motion appearance]

Measured on the 2-core CPU machine (PyTorch): 9–12 minutes per run with
two runs side by side under `OMP_NUM_THREADS=1`.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras_layerlock as kl  # noqa: E402
from keras_layerlock.recipes import RECIPES  # noqa: E402
from recipes import main_job  # noqa: E402

OVERRIDABLE = {"model": "model", "schedule": "schedule", "optimizer": "optimizer",
               "backbone": "backbone_overrides"}


def apply_overrides(recipe_name, overrides):
    """Merges `overrides` into the registered recipe (in this process only)."""
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(f"`--overrides` keys must be among {sorted(OVERRIDABLE)}; "
                         f"received {unknown}.")
    recipe = RECIPES[recipe_name]
    for key, entry in OVERRIDABLE.items():
        if key in overrides:
            recipe.setdefault(entry, {}).update(overrides[key])


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, choices=sorted(main_job.PRETRAINING))
    parser.add_argument("--tag", required=True, help="name of this variant in the results")
    parser.add_argument("--overrides", default="{}", help="JSON: model / schedule / optimizer / backbone")
    parser.add_argument("--tasks", nargs="+", default=["motion", "appearance"],
                        choices=["motion", "appearance", "depth"])
    parser.add_argument("--steps", type=int, help="pretraining steps (the main job's default)")
    parser.add_argument("--learning_rates", type=float, nargs="+",
                        help="readout learning rates (the main job's default)")
    parser.add_argument("--output_dir", default="outputs/main_job_variants")
    parser.add_argument("--cache_dir", default=kl.data.default_cache_dir())
    args = parser.parse_args()
    overrides = json.loads(args.overrides)
    recipe_name = main_job.PRETRAINING[args.model][0]
    apply_overrides(recipe_name, overrides)

    run_dir = os.path.join(args.output_dir, args.tag)
    # The main job's own arguments: its default budget unless --steps / --learning_rates.
    job_args = ["--output_dir", run_dir, "--cache_dir", args.cache_dir, "--verbose", "0"]
    if args.steps is not None:
        job_args += ["--steps", str(args.steps)]
    if args.learning_rates is not None:
        job_args += ["--learning_rates"] + [str(rate) for rate in args.learning_rates]
    job = main_job.parse_arguments(job_args)
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
    row = main_job.evaluate(job, backbone, splits, tasks=args.tasks)
    result = {"tag": args.tag, "model": args.model, "overrides": overrides,
              "fit_seconds": round(fit_seconds), "seconds": round(time.perf_counter() - start)}
    result.update({task: row[task] for task in args.tasks})
    print(json.dumps(result), flush=True)
    with open(os.path.join(args.output_dir, "results.jsonl"), "a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
