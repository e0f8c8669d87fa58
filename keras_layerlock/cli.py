"""`keras-layerlock`: pretrain a recipe or read a backbone out, from the shell.

    keras-layerlock recipes
    keras-layerlock pretrain --recipe tiny --output_dir runs/tiny [--data DIR]
    keras-layerlock evaluate runs/tiny/preset --tasks motion appearance

`pretrain` trains a recipe of `keras_layerlock.recipes` (random
initialisation, its optimizer, weight-decay schedule and, unless
`--no_layerlock`, its LayerLock schedule stretched to `--steps`) on the
procedural suite or a folder of videos, with a progress bar, TensorBoard
logs in `OUTPUT_DIR/logs` and `keras.callbacks.BackupAndRestore` in
`OUTPUT_DIR/backup` (a killed run started again with the same command
resumes where it stopped). It writes the whole pretraining model as a
keras-hub preset (`OUTPUT_DIR/preset`: `VideoViTBackbone.from_preset` loads
the backbone from it, `PretrainingModel.from_preset` the whole model), as a
`.keras` file (`OUTPUT_DIR/pretraining_model.keras`) and
`OUTPUT_DIR/pretrain.json`.

`evaluate` reads a backbone preset out on the procedural suite's tasks with
the suite's protocol (`keras_layerlock.evaluation.protocol`) and prints each
task's test value with its 95 % interval (`--output` writes them as JSON).
"""

import argparse
import json
import math
import os
import sys
import time

TASK_NAMES = ("motion", "appearance", "depth")


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-layerlock", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("recipes", help="list the recipes")

    pretrain = commands.add_parser("pretrain", help="pretrain a recipe")
    pretrain.add_argument("--recipe", default="tiny", help="a name from `keras-layerlock recipes`")
    pretrain.add_argument("--output_dir", required=True)
    pretrain.add_argument("--data", default="procedural",
                          help="'procedural' (the built-in suite) or a folder of videos "
                               "(flat, or one sub-folder per class)")
    pretrain.add_argument("--steps", type=int, default=None,
                          help="training steps; defaults to the recipe's")
    pretrain.add_argument("--batch_size", type=int, default=None,
                          help="defaults to the recipe's")
    pretrain.add_argument("--num_clips", type=int, default=4096,
                          help="procedural clips to train on")
    pretrain.add_argument("--difficulty", default="standard", help="procedural suite level")
    pretrain.add_argument("--no_layerlock", action="store_true",
                          help="train without the recipe's LayerLock schedule")
    pretrain.add_argument("--no_backup", action="store_true",
                          help="no BackupAndRestore (a new run every time)")
    pretrain.add_argument("--seed", type=int, default=0)
    pretrain.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))

    evaluate = commands.add_parser("evaluate", help="read a backbone preset out")
    evaluate.add_argument("preset", help="a preset directory (or a built-in name: random init)")
    evaluate.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES)
    evaluate.add_argument("--num_layers", type=int, default=None,
                          help="encoder blocks (a LayerLock MAE preset's last blocks are its "
                               "decoder); defaults to all")
    evaluate.add_argument("--num_train", type=int, default=4096)
    evaluate.add_argument("--num_validation", type=int, default=512)
    evaluate.add_argument("--num_test", type=int, default=1024)
    evaluate.add_argument("--num_steps", type=int, default=500, help="readout steps")
    evaluate.add_argument("--num_seeds", type=int, default=3)
    evaluate.add_argument("--difficulty", default="standard")
    evaluate.add_argument("--output", default=None, help="write the results as JSON here")
    return parser


def _positive(name, value):
    if value is not None and value <= 0:
        raise SystemExit(f"keras-layerlock: --{name} must be positive; received {value}.")


def list_recipes():
    from keras_layerlock.recipes import RECIPES

    for name, recipe in sorted(RECIPES.items()):
        print(f"{name:<24} {recipe.get('kind', 'mae'):<6} backbone {recipe['backbone']}, "
              f"{recipe.get('total_steps', '?')} steps, batch {recipe.get('batch_size', '?')}")


def pretrain(args):
    import keras

    import keras_layerlock as kl
    from keras_layerlock.recipes import RECIPES
    from keras_layerlock.recipes import build
    from keras_layerlock.recipes import recipe_callbacks
    from keras_layerlock.recipes import scaled_schedule

    if args.recipe not in RECIPES:
        raise SystemExit(f"keras-layerlock: unknown recipe {args.recipe!r}; recipes: "
                         f"{', '.join(sorted(RECIPES))}.")
    for name in ("steps", "batch_size", "num_clips"):
        _positive(name, getattr(args, name))
    recipe = RECIPES[args.recipe]
    steps = args.steps or recipe.get("total_steps", 100_000)
    batch_size = args.batch_size or recipe.get("batch_size", 16)
    keras.utils.set_random_seed(args.seed)
    model, _, optimizer = build(args.recipe, total_steps=steps)
    model.compile(optimizer=optimizer)
    backbone = model.backbone
    image_size = backbone.image_size[0]

    if args.data == "procedural":
        suite = kl.data.ProceduralVideoSuite(num_frames=backbone.num_frames,
                                             image_size=backbone.image_size, seed=args.seed,
                                             difficulty=args.difficulty)
        videos = kl.evaluation.protocol.videos_of(
            suite.load_split("train", args.num_clips, verbose=args.verbose > 0))
        batches_per_epoch = len(videos) // batch_size
        if batches_per_epoch == 0:
            raise SystemExit(f"keras-layerlock: {len(videos)} clips make no batch of "
                             f"{batch_size}; pass more --num_clips or a smaller --batch_size.")
        data = {"x": videos, "batch_size": batch_size, "shuffle": True}
    elif os.path.isdir(args.data):
        sampler = kl.data.VideoClipSampler(num_frames=backbone.num_frames, crop_size=image_size,
                                           training=True, seed=args.seed)
        dataset = kl.data.VideoFolderDataset(args.data, sampler=sampler, batch_size=batch_size,
                                             seed=args.seed)
        batches_per_epoch = len(dataset)
        data = {"x": dataset}
    else:
        raise SystemExit(f"keras-layerlock: --data must be 'procedural' or a folder of videos; "
                         f"received {args.data!r} (no such folder).")
    epochs = max(1, math.ceil(steps / batches_per_epoch))
    steps_per_epoch = math.ceil(steps / epochs)

    os.makedirs(args.output_dir, exist_ok=True)
    callbacks = list(recipe_callbacks(args.recipe, steps))
    layerlock = None
    if not args.no_layerlock and "schedule" in recipe:
        layerlock = kl.LayerLockCallback(scaled_schedule(args.recipe, steps),
                                         verbose=int(args.verbose > 0))
        callbacks.insert(0, layerlock)
    callbacks.append(keras.callbacks.TensorBoard(os.path.join(args.output_dir, "logs")))
    if not args.no_backup:
        callbacks.append(keras.callbacks.BackupAndRestore(
            os.path.join(args.output_dir, "backup"), delete_checkpoint=False))
    history = kl.StepLossHistory()
    callbacks.append(history)
    start = time.time()
    model.fit(epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=callbacks,
              verbose=args.verbose, **data)
    seconds = time.time() - start

    preset_dir = os.path.join(args.output_dir, "preset")
    model.save_to_preset(preset_dir)  # the whole model; the backbone loads from it alone
    model.save(os.path.join(args.output_dir, "pretraining_model.keras"))
    summary = {
        "recipe": args.recipe, "data": args.data, "steps": epochs * steps_per_epoch,
        "batch_size": batch_size, "layerlock": layerlock is not None,
        "num_frozen_layers": model.num_frozen_layers, "target_layer": model.target_layer,
        "layerlock_events": layerlock.events if layerlock else [],
        "final_loss": history.losses[-1] if history.losses else None,
        "seconds": round(seconds, 1), "preset": preset_dir,
        "backend": keras.config.backend(),
    }
    with open(os.path.join(args.output_dir, "pretrain.json"), "w") as f:
        json.dump(summary, f, indent=2, default=float)
    print(f"Pretrained {args.recipe} for {summary['steps']} steps in {seconds:.0f} s; "
          f"backbone preset: {preset_dir}")
    return summary


def evaluate(args):
    import keras_layerlock as kl
    from keras_layerlock.evaluation import protocol

    for name in ("num_train", "num_validation", "num_test", "num_steps", "num_seeds"):
        _positive(name, getattr(args, name))
    backbone = kl.VideoViTBackbone.from_preset(args.preset)
    suite = kl.data.ProceduralVideoSuite(num_frames=backbone.num_frames,
                                         image_size=backbone.image_size,
                                         difficulty=args.difficulty)
    counts = {"train": args.num_train, "validation": args.num_validation, "test": args.num_test}
    splits = {split: suite.load_split(split, count, verbose=True) for split, count in counts.items()}
    rows = protocol.evaluate_frozen_backbone(
        backbone, splits, tasks=tuple(args.tasks), num_layers=args.num_layers,
        num_steps=args.num_steps, num_seeds=args.num_seeds, verbose=True)
    results = {task: protocol.interval_row(rows[task]["test"]) for task in args.tasks}
    print("| task | test value | 95 % interval |\n|---|---|---|")
    for task, row in results.items():
        print(f"| {task} | {row['value']:.3f} | [{row['low']:.3f}, {row['high']:.3f}] |")
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"preset": args.preset, "results": results}, f, indent=2)
    return results


def main(argv: list[str] | None = None):
    """Entry point of the `keras-layerlock` command."""
    args = _parser().parse_args(argv)
    if args.command == "recipes":
        return list_recipes()
    if args.command == "pretrain":
        return pretrain(args)
    return evaluate(args)


if __name__ == "__main__":
    main(sys.argv[1:])
