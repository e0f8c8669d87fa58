
import numpy as np
import pytest
from testing_utils import keras_file_round_trip
from testing_utils import to_numpy

import keras_layerlock as kl


def micro_backbone():
    return kl.VideoViTBackbone.from_preset("video_vit_micro")


def micro_videos(n=4, seed=0):
    return np.random.default_rng(seed).random((n, 4, 16, 16, 3), dtype="float32")


# ------------------------------------------------------------- readouts
def test_readout_shapes_with_and_without_backbone():
    backbone = micro_backbone()
    classifier = kl.ReadoutClassifier(5, backbone=backbone, feature_layer=1,
                                      readout_hidden_dim=16, readout_num_heads=2)
    assert tuple(classifier(micro_videos()).shape) == (4, 5)
    assert not backbone.trainable and classifier.trainable_weights
    backbone_ids = {id(v) for v in backbone.weights}
    assert not any(id(v) in backbone_ids for v in classifier.trainable_weights)
    features = np.random.rand(3, 10, 32).astype("float32")
    plain = kl.ReadoutClassifier(7, readout_hidden_dim=16, readout_num_heads=2)
    assert tuple(plain(features).shape) == (3, 7)
    depth = kl.ReadoutDepthEstimator((4, 16, 16), backbone=backbone, readout_hidden_dim=16,
                                     readout_num_heads=2)
    assert depth.readout.num_queries == 2 * 2 * 2 and depth.readout.output_dim == 128
    assert tuple(depth(micro_videos()).shape) == (4, 4, 16, 16)
    with pytest.raises(ValueError, match="divisible"):
        kl.ReadoutDepthEstimator((3, 16, 16))
    with pytest.raises(ValueError, match="feature_layer"):
        kl.ReadoutClassifier(3, backbone=backbone, feature_layer=9)
    with pytest.raises(ValueError, match="num_tokens"):
        kl.CrossAttentionReadout(1, 3, 16, 2)(np.zeros((2, 32), "float32"))


def test_depth_readout_queries_map_to_their_output_patches():
    estimator = kl.ReadoutDepthEstimator((4, 16, 16), readout_hidden_dim=16, readout_num_heads=2)
    features = np.random.rand(1, 6, 8).astype("float32")
    estimator(features)
    # Make query q predict the constant q: the head ignores its input.
    head = estimator.readout.head
    head.kernel.assign(np.zeros(head.kernel.shape, "float32"))
    head.bias.assign(np.zeros(head.bias.shape, "float32"))
    patches = to_numpy(estimator.readout(features))
    assert patches.shape == (1, 8, 128)
    expected = np.arange(8, dtype="float32")[None, :, None] + np.zeros((1, 8, 128), "float32")
    depth = to_numpy(kl.utils.unpatchify(expected, (2, 2, 2), (2, 8, 8), num_channels=1))[..., 0]
    assert depth[0, 0, 0, 0] == 0 and depth[0, 0, 0, 8] == 1 and depth[0, 0, 8, 0] == 2
    assert depth[0, 2, 0, 0] == 4 and depth[0, 3, 15, 15] == 7


def test_abs_rel_and_masked_l2_against_hand_computation():
    true = np.array([[[[1.0, 2.0], [20.0, 0.0]]]], "float32")  # 20 m and 0 m invalid
    pred = np.array([[[[1.5, 1.0], [3.0, 9.0]]]], "float32")
    metric = kl.AbsRel()
    metric.update_state(true, pred)
    expected = (0.5 / 1.0 + 1.0 / 2.0) / 2
    np.testing.assert_allclose(float(to_numpy(metric.result())), expected, rtol=1e-6)
    metric.update_state(np.array([[4.0]], "float32"), np.array([[5.0]], "float32"))
    np.testing.assert_allclose(float(to_numpy(metric.result())), (0.5 + 0.5 + 0.25) / 3, rtol=1e-6)
    loss = kl.MaskedDepthL2()
    np.testing.assert_allclose(float(to_numpy(loss(true, pred))), (0.25 + 1.0) / 2, rtol=1e-6)
    changed = pred.copy()
    changed[0, 0, 1] = [-50.0, 70.0]  # only invalid pixels change
    np.testing.assert_allclose(float(to_numpy(loss(true, changed))), (0.25 + 1.0) / 2, rtol=1e-6)
    relative = kl.losses.MaskedDepthAbsRel()
    np.testing.assert_allclose(float(to_numpy(relative(true, pred))), expected, rtol=1e-6)
    np.testing.assert_allclose(float(to_numpy(relative(true, changed))), expected, rtol=1e-6)
    # Per clip, then over the batch: a clip's error does not depend on how
    # many valid pixels the other clips have.
    two = np.concatenate([true, np.full_like(true, 4.0)]), np.concatenate([pred, np.full_like(pred, 5.0)])
    np.testing.assert_allclose(float(to_numpy(relative(*two))), (expected + 0.25) / 2, rtol=1e-6)


def test_multi_clip_prediction_averages_softmax():
    classifier = kl.ReadoutClassifier(3, readout_hidden_dim=16, readout_num_heads=2)
    clips = np.random.rand(2, 7, 5, 8).astype("float32")
    averaged = classifier.predict_multi_clip(clips)
    logits = to_numpy(classifier(clips.reshape(14, 5, 8))).reshape(2, 7, 3)
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(averaged, probabilities.mean(1), rtol=1e-5, atol=1e-6)


def test_readout_models_round_trip(tmp_path):
    backbone = micro_backbone()
    classifier = kl.ReadoutClassifier(4, backbone=backbone, feature_layer=2,
                                      readout_hidden_dim=16, readout_num_heads=2)
    keras_file_round_trip(classifier, tmp_path, micro_videos())
    # Per-position statistics need the number of tokens to build at once.
    depth = kl.ReadoutDepthEstimator((4, 16, 16), feature_dim=8, num_tokens=6,
                                     readout_hidden_dim=16, readout_num_heads=2)
    assert depth.built
    keras_file_round_trip(depth, tmp_path, np.random.rand(2, 6, 8).astype("float32"))


# ------------------------------------------------------------------ sweep
def test_sweep_on_a_two_point_grid_keeps_every_result_and_the_best():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 96)
    means = rng.normal(size=(3, 8)) * 3

    def features(y):
        return (means[y][:, None, :] + rng.normal(size=(len(y), 4, 8))).astype("float32")

    train = {1: features(labels[:64]), 2: rng.normal(size=(64, 4, 8)).astype("float32")}
    val = {1: features(labels[64:]), 2: rng.normal(size=(32, 4, 8)).astype("float32")}
    test = {1: features(labels[64:]), 2: rng.normal(size=(32, 4, 8)).astype("float32")}
    sweep = kl.evaluation.readout_sweep(
        "classification", train, labels[:64], val, labels[64:], num_layers=2,
        learning_rates=(3e-3,), layer_fractions=(0.5, 1.0), num_steps=60, batch_size=16,
        verbose=False, num_classes=3, readout_hidden_dim=16, readout_num_heads=2,
        test_features=test, test_targets=labels[64:], num_seeds=3,
    )
    assert len(sweep["results"]) == 2
    assert {r["feature_layer"] for r in sweep["results"]} == {1, 2}
    assert sweep["best"]["metric"] == max(r["metric"] for r in sweep["results"])
    # The informative depth wins; noise stays near chance.
    assert sweep["best"]["feature_layer"] == 1 and sweep["best"]["metric"] > 0.8
    assert isinstance(sweep["best_model"], kl.ReadoutClassifier)
    # The chosen setting, retrained with 3 seeds on the held-out clips.
    tested = sweep["test"]
    assert len(tested["per_seed"]) == 3 and tested["num_runs"] == 3 and tested["num_clips"] == 32
    assert tested["low"] <= tested["value"] <= tested["high"] and tested["value"] > 0.8
    with pytest.raises(ValueError, match="No cached features"):
        kl.evaluation.readout_sweep("classification", {1: train[1]}, labels[:64], val,
                                    labels[64:], num_layers=2, layer_fractions=(1.0,))
    assert kl.evaluation.feature_layer_at_fraction(0.85, 4) == 3
    assert kl.evaluation.feature_layer_at_fraction(0.1, 4) == 1
    # The names of 0.1, where "depth" also meant a block index.
    with pytest.warns(DeprecationWarning, match="feature_layer_at_fraction"):
        assert kl.evaluation.depth_fraction_to_layer(0.85, 4) == 3
    with pytest.warns(DeprecationWarning, match="layer_fractions"), \
            pytest.raises(ValueError, match="No cached features"):
        kl.evaluation.readout_sweep("classification", {1: train[1]}, labels[:64], val,
                                    labels[64:], num_layers=2, depth_fractions=(1.0,))


def test_features_of_several_layers_from_one_pass():
    backbone = micro_backbone()
    videos = micro_videos(3)
    features = kl.evaluation.compute_layer_features(backbone, videos, [1, 2], batch_size=2)
    full = backbone(videos)
    for layer in (1, 2):
        np.testing.assert_allclose(features[layer], to_numpy(full[layer]), atol=1e-5)
    with pytest.warns(DeprecationWarning, match="compute_layer_features"):
        old = kl.evaluation.compute_depth_features(backbone, videos, [1], batch_size=2)
    np.testing.assert_array_equal(old[1], features[1])
    pooled = kl.evaluation.extract_features(backbone, videos, layer=1)
    np.testing.assert_allclose(pooled, to_numpy(full[1]).mean(1), atol=1e-5)


# --------------------------------------------------- probes and metrics
def test_knn_on_separable_features_is_perfect():
    rng = np.random.default_rng(1)
    centres = np.eye(4, 16) * 10
    train_y, test_y = np.repeat(np.arange(4), 60), np.repeat(np.arange(4), 10)
    train_x = centres[train_y] + rng.normal(size=(240, 16))
    test_x = centres[test_y] + rng.normal(size=(40, 16))
    accuracy = kl.evaluation.knn_accuracy(train_x, train_y, test_x, test_y, k=(20, 200))
    assert accuracy == {20: 1.0, 200: 1.0}
    shuffled = kl.evaluation.knn_accuracy(train_x, rng.permutation(train_y), test_x, test_y, k=20)
    assert shuffled[20] < 0.6


def test_linear_probe_separates_separable_features():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 300)
    x = np.eye(3, 12)[y] * 4 + rng.normal(size=(300, 12)) + 50.0  # offset: BN handles it
    result = kl.evaluation.linear_probe(x[:240], y[:240], x[240:], y[240:], epochs=20,
                                        batch_size=64)
    assert result["accuracy"] > 0.95
    assert not result["model"].layers[0].center and not result["model"].layers[0].scale


def test_alignment_and_uniformity():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 16))
    assert kl.evaluation.alignment(x, x) == pytest.approx(0.0, abs=1e-12)
    assert kl.evaluation.alignment(x, -x) == pytest.approx(4.0)
    assert kl.evaluation.uniformity(np.ones((50, 16))) == pytest.approx(0.0, abs=1e-9)
    assert kl.evaluation.uniformity(x) < -3.0


# ------------------------------------------------------------ fine-tuning
def test_fine_tuning_with_layerwise_learning_rate_decay():
    backbone = micro_backbone()
    classifier = kl.ReadoutClassifier(3, backbone=backbone, freeze_backbone=False,
                                      readout_hidden_dim=16, readout_num_heads=2)
    assert backbone.trainable
    multipliers = kl.layerwise_learning_rate_multipliers(classifier, 0.5)
    embedding = backbone.patch_embedding.weights[0].path
    block_1 = backbone.transformer_layers[0].weights[0].path
    block_2 = backbone.transformer_layers[1].weights[0].path
    assert multipliers[embedding] == 0.5**3 and multipliers[block_1] == 0.5**2
    assert multipliers[block_2] == 0.5 and multipliers[classifier.readout.queries.path] == 1.0
    optimizer = kl.LayerwiseDecayAdamW(1e-2, multipliers=multipliers, weight_decay=0.0)
    classifier.compile(optimizer)
    x, y = micro_videos(4), np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match="adapt"):
        classifier.fit(x, y, batch_size=4, epochs=1, verbose=0)
    classifier.adapt(x)
    before = {v.path: to_numpy(v).copy() for v in classifier.trainable_variables}
    classifier.fit(x, y, batch_size=4, epochs=1, verbose=0)
    # Adam's first step moves every weight by about lr x multiplier.
    for path in (embedding, block_1, block_2):
        variable = next(v for v in classifier.trainable_variables if v.path == path)
        step = np.abs(to_numpy(variable) - before[path])
        moved = step[step > 0]
        np.testing.assert_allclose(np.median(moved), 1e-2 * multipliers[path], rtol=0.05)
    config = optimizer.get_config()
    assert kl.LayerwiseDecayAdamW.from_config(config).multipliers == multipliers
