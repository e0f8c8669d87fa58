"""Calibration table of the procedural suite: what each task's numbers mean.

For one difficulty level and clip size (default: standard, 8 x 32 x 32),
on held-out test clips with 95 % bootstrap intervals, per task:

- chance and trivial baselines: the majority class; for depth a constant
  (the mean valid training depth) and the per-pixel prior (each pixel's
  mean valid training depth);
- a linear probe on pixels: the main job's readout protocol on raw pixel
  tubelets instead of backbone features;
- the floor: a randomly initialised tiny backbone (4 blocks) with the main
  job's readouts on its frozen features;
- the ceiling: the same backbone trained end to end with labels, with the
  same readout head, on label-preserving flips of its clips, for depth
  with AbsRel as the loss (`protocol.supervised_ceiling`).

The suite is calibrated when ceiling - floor >= 30 points on motion and on
appearance and the ceiling's AbsRel is <= 0.6 x the per-pixel prior on
depth; the script checks and prints both.

With `--save_to_package` and a subset of `--tasks`, the tasks measured
replace theirs in the package's calibration file and the others are kept
(each task records the command and arguments that measured it); the file
must describe the same suite and clip counts.

Usage:
    python tools/calibrate_suite.py [--difficulty standard] [--output_dir outputs/calibration]
    python tools/calibrate_suite.py --tasks depth --ceiling_steps 3600 --save_to_package
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras_layerlock as kl  # noqa: E402
from keras_layerlock.data.procedural.suite_calibration import calibration_path  # noqa: E402
from keras_layerlock.evaluation import protocol  # noqa: E402


def cell(interval):
    return f"{interval['value']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def merged_with_package_file(record, path):
    """`record`, plus the tasks of the calibration file at `path` that it
    did not measure (same suite fingerprint and clip counts, else an error)."""
    if not os.path.exists(path):
        return record
    with open(path) as f:
        old = json.load(f)
    kept = [task for task in old["results"] if task not in record["results"]]
    if not kept:
        return record
    keys = ("num_frames", "image_size", "num_train", "num_validation", "num_test")
    mismatched = [k for k in keys if old["args"].get(k) != record["args"][k]]
    if old.get("suite_fingerprint") != record["suite_fingerprint"] or mismatched:
        raise SystemExit(
            f"{path} describes suite {old.get('suite_fingerprint')!r} with "
            f"{ {k: old['args'].get(k) for k in keys} }; this run measured "
            f"{record['suite_fingerprint']!r} with { {k: record['args'][k] for k in keys} }. "
            f"Calibrate all tasks ({sorted(old['results'])}) together to replace it."
        )
    old_runs = old.get("task_runs") or {
        task: {"command": old.get("command"), "args": old["args"], "seconds": old.get("seconds")}
        for task in old["results"]}
    merged = dict(record)
    merged["results"] = {**{t: old["results"][t] for t in kept}, **record["results"]}
    merged["checks"] = {**{t: old["checks"][t] for t in kept if t in old["checks"]},
                        **record["checks"]}
    merged["task_runs"] = {**{t: old_runs[t] for t in kept}, **record["task_runs"]}
    merged["args"] = dict(record["args"], tasks=sorted(merged["results"]))
    # The tasks now come from several runs: each one's command and time
    # are in `task_runs`, not one run's at the top.
    merged.pop("command", None)
    merged.pop("seconds", None)
    return merged


def save_to_package(record, path):
    """Writes `record`, merged with the tasks of the file at `path` it did
    not measure, to `path`."""
    # Merged before anything is written, and replaced in one step: a
    # refused merge or a killed run leaves the old file whole.
    merged = merged_with_package_file(record, path)
    with open(path + ".tmp", "w") as f:
        json.dump(merged, f, indent=2)
    os.replace(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--difficulty", default="standard", choices=kl.data.DIFFICULTIES)
    parser.add_argument("--num_frames", type=int, default=8)
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--num_train", type=int, default=4096, help="labelled training clips")
    parser.add_argument("--num_validation", type=int, default=512)
    parser.add_argument("--num_test", type=int, default=1024)
    parser.add_argument("--readout_steps", type=int, default=500)
    parser.add_argument("--ceiling_steps", type=int, default=4800,
                        help="end-to-end steps of the ceiling (at 1,200 the motion ceiling "
                             "under-fits: 0.43, against 0.76 at 4,800)")
    parser.add_argument("--no_ceiling_flips", action="store_true",
                        help="train the ceiling on the clips as rendered (without "
                             "label-preserving mirror and time-reversal flips)")
    parser.add_argument("--num_seeds", type=int, default=3)
    parser.add_argument("--tasks", nargs="+", default=list(protocol.TASKS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache_dir", default=kl.data.default_cache_dir())
    parser.add_argument("--output_dir", default="outputs/calibration")
    parser.add_argument("--save_to_package", action="store_true",
                        help="also store the result with the library, where the main job "
                             "reads its ceiling row from")
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)
    start = time.perf_counter()
    suite = kl.data.ProceduralVideoSuite(args.num_frames, args.image_size,
                                         difficulty=args.difficulty)
    splits = {split: suite.load_split(split, count, cache_dir=args.cache_dir)
              for split, count in (("train", args.num_train),
                                   ("validation", args.num_validation),
                                   ("test", args.num_test))}
    readouts = dict(num_steps=args.readout_steps, num_seeds=args.num_seeds, verbose=True)
    results = {task: protocol.trivial_baselines(splits, task) for task in args.tasks}
    print("Linear probe on pixels", flush=True)
    pixels = protocol.evaluate_pixels(splits, tasks=args.tasks, **readouts)
    print("Floor: random-init backbone + readout", flush=True)
    keras.utils.set_random_seed(args.seed)

    def backbone():
        return kl.VideoViTBackbone.from_preset("video_vit_tiny", num_layers=4,
                                               num_frames=args.num_frames,
                                               image_size=args.image_size)

    floor = protocol.evaluate_frozen_backbone(backbone(), splits, tasks=args.tasks, **readouts)
    for task in args.tasks:
        results[task]["pixel_linear_probe"] = pixels[task]["test"]
        results[task]["floor"] = floor[task]["test"]
        print(f"Ceiling: {task}, backbone trained end to end ({args.ceiling_steps} steps)",
              flush=True)
        keras.utils.set_random_seed(args.seed)
        results[task]["ceiling"] = protocol.supervised_ceiling(
            backbone(), splits, task, num_steps=args.ceiling_steps, seed=args.seed,
            augment=not args.no_ceiling_flips)

    lines = ["| task | baseline | value [95 % interval] |", "|---|---|---|"]
    checks = {}
    for task, rows in results.items():
        for name, interval in rows.items():
            lines.append(f"| {task} | {name.replace('_', ' ')} | {cell(interval)} |")
        if task == "depth":
            ratio = rows["ceiling"]["value"] / rows["per_pixel_prior"]["value"]
            checks[task] = {"ceiling / per-pixel prior": ratio, "target": "<= 0.6",
                            "met": bool(ratio <= 0.6)}
        else:
            gap = rows["ceiling"]["value"] - rows["floor"]["value"]
            checks[task] = {"ceiling - floor": gap, "target": ">= 0.30", "met": bool(gap >= 0.3)}
    table = "\n".join(lines)
    check_lines = [f"{task}: {next(iter(c))} = {list(c.values())[0]:.3f} (target "
                   f"{c['target']}): {'met' if c['met'] else 'NOT met'}"
                   for task, c in checks.items()]
    total = time.perf_counter() - start
    print("\n" + table + "\n\n" + "\n".join(check_lines))
    print(f"\n{total:.0f} s on {keras.backend.backend()}")
    record = {"args": vars(args), "suite_fingerprint": suite.fingerprint(),
              "backend": keras.backend.backend(), "results": results,
              "checks": checks, "seconds": total,
              "command": "python tools/calibrate_suite.py " + " ".join(sys.argv[1:])}
    record["task_runs"] = {task: {"command": record["command"], "args": vars(args),
                                  "seconds": total} for task in args.tasks}
    with open(os.path.join(args.output_dir, "calibration.json"), "w") as f:
        json.dump(record, f, indent=2)
    if args.save_to_package:
        save_to_package(record, calibration_path(args.difficulty, args.num_frames,
                                                 args.image_size))
    with open(os.path.join(args.output_dir, "calibration.md"), "w") as f:
        f.write(table + "\n\n" + "\n".join(check_lines) + "\n")


if __name__ == "__main__":
    main()
