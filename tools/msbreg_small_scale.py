"""MSBReg's supplement in miniature: BYOL's collapse (Table 4), K views and
the two regularisers (Table 5), alignment and uniformity (Table 3).

Each model pretrains a small CNN on the procedural suite's first frames
(32 x 32) for `--steps` LARS steps at batch `--batch_size` (cosine, a tenth
of warm-up, max lr = base x batch / 256 x K), then its frozen backbone is
read out on the appearance labels of the test images, beside a random-init
backbone:

- `linear`: a linear probe (`kl.evaluation.linear_probe`: non-affine
  BatchNorm + linear layer, SGD) trained on the training images' features;
- `knn`: k-NN accuracy (k = 20, cosine);
- `alignment` / `uniformity` (Wang & Isola) of the L2-normalised backbone
  features of two SimCLR views of each test image (lower is better for
  both; uniformity is 0 when every feature is the same);
- `feature_collapse_statistics` of the online projections and of the
  backbone features (`feature_std`: 0 when collapsed, about 1 / sqrt(d)
  when spread; the effective rank).

Experiments:
- `collapse` (Table 4): BYOL with BatchNorm heads, with LayerNorm heads,
  and LayerNorm heads + the Brownian term at each `--brownian_weights`;
- `views` (Table 5 and Table 3): K in `--num_views`, each without the
  regularisers and with lambda_s = 0.004, lambda_b = 0.5 (the paper's
  best), BatchNorm heads.

Usage:
    python tools/msbreg_small_scale.py --experiment collapse [--brownian_weights 0.5 2 8]
    python tools/msbreg_small_scale.py --experiment views [--num_views 2 4 8]
Prints a table; writes outputs/msbreg_small_scale/<experiment>.json.
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
from keras_layerlock.models.msbreg.msbreg import global_features  # noqa: E402

BEST_REGULARISERS = dict(singular_value_weight=0.004, brownian_weight=0.5)


def collapse_runs(args):
    """BYOL with BatchNorm and LayerNorm heads, then LayerNorm with each
    Brownian weight."""
    table = {"byol_batchnorm": dict(head_normalization="batch"),
             "byol_layernorm": dict(head_normalization="layer")}
    for weight in args.brownian_weights:
        table[f"layernorm_brownian_{weight:g}"] = dict(head_normalization="layer",
                                                      brownian_weight=weight)
    return table


def views_runs(args):
    """Each K without and with the paper's best regularisers."""
    table = {}
    for k in args.num_views:
        table[f"k{k}"] = dict(num_views=k)
        table[f"k{k}_sv_brownian"] = dict(num_views=k, **BEST_REGULARISERS)
    return table


EXPERIMENTS = {"collapse": collapse_runs, "views": views_runs}


def cnn():
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(64, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(128, 3, strides=2, activation="relu"),
    ], name="cnn")


def batched(function, images, batch_size=256):
    return np.concatenate([keras.ops.convert_to_numpy(function(images[i:i + batch_size]))
                           for i in range(0, len(images), batch_size)])


def statistics(features):
    stats = kl.feature_collapse_statistics(features)
    return {k: float(stats[k]) for k in ("feature_std", "effective_rank")}


def evaluate(backbone, train, test, test_views):
    """The readouts and embedding statistics of one frozen backbone."""
    features = lambda images: batched(lambda x: global_features(backbone, x), images)  # noqa: E731
    train_features, test_features = features(train["images"]), features(test["images"])
    view_features = [features(test_views[:, i]) for i in range(2)]
    return {
        "linear": kl.evaluation.linear_probe(train_features, train["appearance"], test_features,
                                             test["appearance"], epochs=30)["accuracy"],
        "knn": kl.evaluation.knn_accuracy(train_features, train["appearance"], test_features,
                                          test["appearance"], k=20)[20],
        "alignment": kl.evaluation.alignment(*view_features),
        "uniformity": kl.evaluation.uniformity(test_features),
        "features": statistics(test_features),
    }


def pretrain(options, args, images):
    keras.utils.set_random_seed(0)
    if options.get("num_views", 2) == 2 and not (set(options) & set(BEST_REGULARISERS)):
        model = kl.BYOL(cnn(), ema_steps=args.steps, seed=0,
                        **{k: v for k, v in options.items() if k != "num_views"})
    else:
        model = kl.MSBReg(cnn(), ema_steps=args.steps, seed=0, **{"num_views": 2, **options})
    peak = args.learning_rate * args.batch_size / 256 * model.num_views
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, args.steps, warmup_target=peak, warmup_steps=max(1, args.steps // 10))
    model.compile(optimizer=kl.LARS(schedule, weight_decay=1e-5))
    epochs = -(-args.steps // (len(images) // args.batch_size))
    start = time.perf_counter()
    history = model.fit(images, batch_size=args.batch_size, epochs=epochs, verbose=0)
    return model, history.history, time.perf_counter() - start


def table_of(rows):
    lines = ["| model | linear appearance | k-NN appearance | alignment | uniformity | "
             "projection std | projection rank | feature std | feature rank | final loss | "
             "train s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        p, f = row.get("projections"), row["features"]
        lines.append(
            f"| {row['name']} | {row['linear']:.3f} | {row['knn']:.3f} | "
            f"{row['alignment']:.3f} | {row['uniformity']:.2f} | "
            + (f"{p['feature_std']:.4f} | {p['effective_rank']:.1f}" if p else "- | -")
            + f" | {f['feature_std']:.4f} | {f['effective_rank']:.1f} | "
            + (f"{row['final_centroid_loss']:.3f} | {row['seconds']:.0f}" if p else "- | -")
            + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", choices=sorted(EXPERIMENTS), default="collapse")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--num_train", type=int, default=2048)
    parser.add_argument("--num_test", type=int, default=512)
    parser.add_argument("--learning_rate", type=float, default=0.3)
    parser.add_argument("--brownian_weights", type=float, nargs="+", default=[0.5],
                        help="collapse: lambda_b of the LayerNorm + Brownian runs (paper: 0.5)")
    parser.add_argument("--num_views", type=int, nargs="+", default=[2, 4, 8],
                        help="views: the K of each run")
    parser.add_argument("--output_dir", default="outputs/msbreg_small_scale")
    parser.add_argument("--cache_dir", default=kl.data.default_cache_dir())
    args = parser.parse_args()

    suite = kl.data.ProceduralVideoSuite(num_frames=8, image_size=32)
    train = suite.load_split("train", args.num_train, cache_dir=args.cache_dir, verbose=False)
    test = suite.load_split("test", args.num_test, cache_dir=args.cache_dir, verbose=False)
    train["images"] = train["video"][:, 0].astype("float32") / 255.0
    test["images"] = test["video"][:, 0].astype("float32") / 255.0
    test_views = keras.ops.convert_to_numpy(
        kl.SimCLRAugmentation(num_views=2, seed=1)(test["images"]))
    keras.utils.set_random_seed(0)
    rows = [{"name": "random_init", **evaluate(cnn(), train, test, test_views)}]
    print(f"random_init: {rows[-1]}", flush=True)
    for name, options in EXPERIMENTS[args.experiment](args).items():
        model, history, seconds = pretrain(options, args, train["images"])
        projections = batched(
            lambda x: model.projector(global_features(model.backbone, x), training=False),
            test["images"])
        rows.append({"name": name, "options": options, "seconds": seconds,
                     "final_centroid_loss": float(history["centroid_loss"][-1]),
                     "projections": statistics(projections),
                     **evaluate(model.backbone, train, test, test_views)})
        print(f"{name}: {rows[-1]}", flush=True)
    table = table_of(rows)
    print("\n" + table)
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, f"{args.experiment}.json"), "w") as f:
        json.dump({"backend": keras.backend.backend(), "args": vars(args), "rows": rows,
                   "table": table}, f, indent=2)


if __name__ == "__main__":
    main()
