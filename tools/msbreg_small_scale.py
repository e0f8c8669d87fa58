"""BYOL's heads with BatchNorm or LayerNorm, and LayerNorm plus the Brownian term.

MSBReg's key experiment in miniature (its supplement, Table 4): BYOL with
BatchNorm heads, with LayerNorm heads (the paper: collapse, 89.5 -> 10.6 %)
and with LayerNorm heads plus the Brownian diffusive loss (the paper:
rescued). Each model pretrains a small CNN on the procedural suite's
first frames (32 x 32) for `--steps` steps at batch `--batch_size` with
LARS, then reports the collapse statistics of its online projections and
of its backbone features on the test images (`feature_std`: 0 when
collapsed, about 1 / sqrt(d) when spread; the effective rank) and a k-NN
accuracy on the appearance labels (k = 20), beside a random-init backbone.

Usage:
    python tools/byol_collapse.py [--steps 400] [--batch_size 32] [--brownian_weights 0.5 2 8]
Prints a table; writes outputs/byol_collapse/results.json.
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


def runs(brownian_weights):
    """BYOL with BatchNorm and LayerNorm heads, then LayerNorm with each
    Brownian weight."""
    table = {"byol_batchnorm": dict(head_normalization="batch"),
             "byol_layernorm": dict(head_normalization="layer")}
    for weight in brownian_weights:
        table[f"layernorm_brownian_{weight:g}"] = dict(head_normalization="layer",
                                                      brownian_weight=weight)
    return table


def cnn():
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(64, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(128, 3, strides=2, activation="relu"),
    ], name="cnn")


def features_of(backbone, images, batch_size=256):
    parts = [keras.ops.convert_to_numpy(global_features(backbone, images[i:i + batch_size]))
             for i in range(0, len(images), batch_size)]
    return np.concatenate(parts)


def projections_of(model, images, batch_size=256):
    parts = []
    for i in range(0, len(images), batch_size):
        feats = global_features(model.backbone, images[i:i + batch_size])
        parts.append(keras.ops.convert_to_numpy(model.projector(feats, training=False)))
    return np.concatenate(parts)


def statistics(features):
    stats = kl.feature_collapse_statistics(features)
    return {k: float(stats[k]) for k in ("feature_std", "effective_rank")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--num_train", type=int, default=2048)
    parser.add_argument("--num_test", type=int, default=512)
    parser.add_argument("--learning_rate", type=float, default=0.3)
    parser.add_argument("--brownian_weights", type=float, nargs="+", default=[0.5],
                        help="lambda_b of the LayerNorm + Brownian runs (the paper's best: 0.5)")
    parser.add_argument("--output_dir", default="outputs/byol_collapse")
    parser.add_argument("--cache_dir", default=kl.data.default_cache_dir())
    args = parser.parse_args()

    suite = kl.data.ProceduralVideoSuite(num_frames=8, image_size=32)
    train = suite.load_split("train", args.num_train, cache_dir=args.cache_dir, verbose=False)
    test = suite.load_split("test", args.num_test, cache_dir=args.cache_dir, verbose=False)
    train_images = train["video"][:, 0].astype("float32") / 255.0
    test_images = test["video"][:, 0].astype("float32") / 255.0
    rows = []
    keras.utils.set_random_seed(0)
    random_backbone = cnn()
    train_features = features_of(random_backbone, train_images)
    test_features = features_of(random_backbone, test_images)
    rows.append({"name": "random_init", "features": statistics(test_features),
                 "knn": kl.evaluation.knn_accuracy(train_features, train["appearance"],
                                                   test_features, test["appearance"], k=20)[20]})
    for name, options in runs(args.brownian_weights).items():
        keras.utils.set_random_seed(0)
        model = kl.BYOL(cnn(), ema_steps=args.steps, seed=0, **options) \
            if "brownian_weight" not in options else \
            kl.MSBReg(cnn(), num_views=2, ema_steps=args.steps, seed=0, **options)
        # LARS with a cosine schedule and a tenth of warm-up, max lr = base x batch / 256 x K.
        peak = args.learning_rate * args.batch_size / 256 * model.num_views
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, args.steps, warmup_target=peak, warmup_steps=max(1, args.steps // 10))
        model.compile(optimizer=kl.LARS(schedule, weight_decay=1e-5))
        epochs = -(-args.steps // (len(train_images) // args.batch_size))
        start = time.perf_counter()
        history = model.fit(train_images, batch_size=args.batch_size, epochs=epochs, verbose=0)
        seconds = time.perf_counter() - start
        train_features = features_of(model.backbone, train_images)
        test_features = features_of(model.backbone, test_images)
        rows.append({
            "name": name, "seconds": seconds,
            "final_centroid_loss": float(history.history["centroid_loss"][-1]),
            "projections": statistics(projections_of(model, test_images)),
            "features": statistics(test_features),
            "knn": kl.evaluation.knn_accuracy(train_features, train["appearance"],
                                              test_features, test["appearance"], k=20)[20],
        })
        print(f"{name}: {rows[-1]}", flush=True)
    lines = ["| model | k-NN appearance (k=20) | projection std | projection rank | "
             "feature std | feature rank | final loss |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        p = row.get("projections")
        lines.append(
            f"| {row['name']} | {row['knn']:.3f} | "
            + (f"{p['feature_std']:.4f} | {p['effective_rank']:.1f}" if p else "- | -")
            + f" | {row['features']['feature_std']:.4f} | {row['features']['effective_rank']:.1f} | "
            + (f"{row['final_centroid_loss']:.3f}" if p else "-") + " |")
    table = "\n".join(lines)
    print("\n" + table)
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "results.json"), "w") as f:
        json.dump({"backend": keras.backend.backend(), "args": vars(args), "rows": rows}, f,
                  indent=2)


if __name__ == "__main__":
    main()
