"""Readouts that work with few labels and few steps: feature statistics kept
in the model, pooled probes, the short-budget schedule, intervals."""

import keras
import numpy as np
import pytest
from testing_utils import keras_file_round_trip
from testing_utils import to_numpy

import keras_layerlock as kl


def positional_features(labels, rng, num_tokens=64, dim=32, signal=0.05):
    """Tokens that are ~99 % a position-only component shared by every clip
    (as frozen ViT tokens are), plus a small class signal on a few tokens."""
    shared = rng.normal(size=(num_tokens, dim)) * 10.0
    directions = rng.normal(size=(int(labels.max()) + 1, dim))
    features = shared[None] + rng.normal(size=(len(labels), num_tokens, dim)) * 0.02
    features[:, :8] += signal * directions[labels][:, None] * 10
    return features.astype("float32")


def test_readout_fits_separable_data_at_default_settings():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 640)
    features = positional_features(labels, rng)
    for readout_kwargs in ({}, {"readout_type": "linear", "pooled_grid": (2, 2, 2)}):
        run = kl.evaluation.train_readout(
            "classification", features[:512], labels[:512], features[512:], labels[512:],
            learning_rate=1e-3, num_steps=150, num_classes=4, token_grid=(4, 4, 4),
            **readout_kwargs)
        assert run["train_metric"] > 0.95, (readout_kwargs, run["train_metric"])
        assert run["metric"] > 0.9, (readout_kwargs, run["metric"])


def test_depth_readouts_fit_a_per_patch_depth():
    rng = np.random.default_rng(1)
    num = 256
    level = rng.uniform(1.0, 9.0, (num, 8))  # one depth per output patch
    direction = rng.normal(size=16)
    features = level[:, :, None] * direction + rng.normal(size=(num, 8, 16)) * 0.05
    features = (features + rng.normal(size=(8, 16)) * 20).astype("float32")
    depth = np.repeat(np.repeat(np.repeat(level.reshape(num, 2, 2, 2), 2, 1), 8, 2), 8, 3)
    for readout_type in ("linear", "cross_attention"):
        run = kl.evaluation.train_readout(
            "depth", features[:192], depth[:192].astype("float32"), features[192:],
            depth[192:].astype("float32"), learning_rate=3e-3, num_steps=300,
            depth_shape=(4, 16, 16), readout_type=readout_type, readout_hidden_dim=32,
            readout_num_heads=2)
        assert run["metric"] < 0.1, (readout_type, run["metric"])


def test_readout_trains_on_a_dataset_with_the_loss_it_is_given():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, 256)
    features = positional_features(labels, rng)

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.seen = 0

        def __len__(self):
            return 8

        def __getitem__(self, index):
            self.seen += 1
            ids = slice(index * 32, (index + 1) * 32)
            return features[ids], labels[ids]

    data = Batches()
    run = kl.evaluation.train_readout(
        "classification", features, labels, features, labels, learning_rate=1e-3,
        num_steps=120, num_classes=4, token_grid=(4, 4, 4), train_data=data,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, name="given"))
    assert data.seen >= 120
    assert run["model"].loss.name == "given"
    assert run["train_metric"] > 0.95


def test_learning_rate_schedule_at_short_budgets():
    for num_steps, fraction in ((20, 0.1), (300, 0.1), (7, 0.3)):
        schedule = kl.evaluation.readout_learning_rate(1e-3, num_steps, fraction)
        rates = np.array([float(to_numpy(schedule(step))) for step in range(num_steps + 1)])
        warmup = max(1, round(fraction * num_steps))
        peak = int(np.argmax(rates))
        assert peak == warmup and rates[peak] == pytest.approx(1e-3)
        assert np.all(np.diff(rates[: warmup + 1]) > 0)  # warms up
        assert np.all(np.diff(rates[warmup:]) < 0)  # then decays
        assert rates[0] == 0.0 and rates[-1] == pytest.approx(1e-7, rel=1e-3)
    with pytest.raises(ValueError, match="warmup_fraction"):
        kl.evaluation.readout_learning_rate(1e-3, 10, 1.0)


def test_feature_statistics_live_in_the_model(tmp_path):
    rng = np.random.default_rng(2)
    features = (rng.normal(size=(50, 6, 4)) * 3 + 7).astype("float32")
    norm = kl.FeatureStandardization()
    norm.adapt(features)
    np.testing.assert_allclose(to_numpy(norm.mean), features.mean(0), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(norm.variance), features.var(0), rtol=1e-4)
    out = to_numpy(norm(features))
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-4)
    channel = kl.FeatureStandardization("channel")
    channel.adapt(features)
    np.testing.assert_allclose(to_numpy(channel.mean), features.mean((0, 1)), rtol=1e-5)
    with pytest.raises(ValueError, match="NaN"):
        kl.FeatureStandardization().adapt(np.full((2, 6, 4), np.nan, "float32"))
    with pytest.raises(ValueError, match="mode"):
        kl.FeatureStandardization("batch")

    classifier = kl.ReadoutClassifier(3, readout_hidden_dim=8, readout_num_heads=2)
    classifier.compile()
    with pytest.raises(ValueError, match="adapt"):
        classifier.fit(features, np.zeros(50, "int32"), verbose=0)
    classifier.adapt(features)
    assert classifier.num_tokens == 6 and classifier.feature_norm.is_adapted
    restored = keras_file_round_trip(classifier, tmp_path, features[:4])
    np.testing.assert_allclose(to_numpy(restored.feature_norm.mean), features.mean(0), rtol=1e-5)
    assert restored.feature_norm.is_adapted


def test_token_grid_pooling_and_linear_readout():
    tokens = np.random.default_rng(3).random((2, 4 * 4 * 4, 5)).astype("float32")
    pooled = to_numpy(kl.TokenGridPooling((4, 4, 4), (2, 2, 1))(tokens))
    grid = tokens.reshape(2, 2, 2, 2, 2, 1, 4, 5).mean((2, 4, 6)).reshape(2, 4, 5)
    np.testing.assert_allclose(pooled, grid, rtol=1e-6)
    with pytest.raises(ValueError, match="divide"):
        kl.TokenGridPooling((4, 4, 4), (3, 1, 1))
    with pytest.raises(ValueError, match="64 tokens"):
        kl.TokenGridPooling((4, 4, 4))(tokens[:, :10])
    assert tuple(kl.LinearReadout(1, 7)(tokens).shape) == (2, 1, 7)
    assert tuple(kl.LinearReadout(64, 3)(tokens).shape) == (2, 64, 3)
    with pytest.raises(ValueError, match="one of its 8 output patches"):
        kl.LinearReadout(8, 3)(tokens)
    backbone = kl.VideoViTBackbone.from_preset("video_vit_micro")
    probe = kl.ReadoutClassifier(3, backbone=backbone, pooled_grid=(1, 2, 2),
                                 readout_type="linear")
    videos = np.random.rand(4, 4, 16, 16, 3).astype("float32")
    probe.adapt(videos)
    assert tuple(probe(videos).shape) == (4, 3)
    with pytest.raises(ValueError, match="token_grid"):
        kl.ReadoutClassifier(3, feature_dim=8, pooled_grid=(1, 1, 1))


def test_bootstrap_interval_covers_the_truth_and_narrows_with_data():
    rng = np.random.default_rng(4)
    small = kl.evaluation.bootstrap_interval(rng.random((3, 100)) < 0.6)
    large = kl.evaluation.bootstrap_interval(rng.random((3, 4000)) < 0.6)
    assert small["low"] < 0.6 < small["high"] and large["low"] < 0.6 < large["high"]
    assert large["high"] - large["low"] < 0.5 * (small["high"] - small["low"])
    numerators, denominators = rng.random((2, 50)), rng.integers(1, 5, (2, 50))
    ratio = kl.evaluation.bootstrap_interval(numerators, denominators)
    expected = np.mean(numerators.sum(1) / denominators.sum(1))
    assert ratio["value"] == pytest.approx(expected)
    assert kl.evaluation.intervals_overlap(small, large)
    assert not kl.evaluation.intervals_overlap({"low": 0, "high": 1}, {"low": 2, "high": 3})
    with pytest.raises(ValueError, match="NaN"):
        kl.evaluation.bootstrap_interval(np.array([0.5, np.nan]))
    with pytest.raises(ValueError, match="one shape"):
        kl.evaluation.bootstrap_interval(np.ones((2, 3)), np.ones((2, 4)))


def test_depth_readout_starts_at_the_per_pixel_prior(tmp_path):
    rng = np.random.default_rng(5)
    depths = rng.uniform(1.0, 12.0, (20, 4, 16, 16)).astype("float32")
    features = rng.normal(size=(20, 8, 6)).astype("float32")
    estimator = kl.ReadoutDepthEstimator((4, 16, 16), readout_type="linear")
    estimator.adapt(features, depths)
    valid = (depths > 0.001) & (depths < 10.0)
    prior = np.where(valid, depths, 0).sum(0) / np.maximum(valid.sum(0), 1)
    prior = np.where(valid.sum(0) > 0, prior, depths[valid].mean())
    np.testing.assert_allclose(to_numpy(estimator.depth_offset), prior, rtol=1e-5)
    # The linear head starts at zero output plus a zero bias: the prior.
    head = estimator.readout.head
    head.kernel.assign(np.zeros(head.kernel.shape, "float32"))
    np.testing.assert_allclose(to_numpy(estimator(features[:2])), np.stack([prior] * 2),
                               rtol=1e-5)
    restored = keras_file_round_trip(estimator, tmp_path, features[:3])
    np.testing.assert_allclose(to_numpy(restored.depth_offset), prior, rtol=1e-5)
    with pytest.raises(ValueError, match="depth targets"):
        estimator.adapt(features, depths[:, :2])
    with pytest.raises(ValueError, match="No valid depth"):
        estimator.adapt(features, np.full((20, 4, 16, 16), 50.0, "float32"))


def test_linear_probe_with_backbone_round_trips(tmp_path):
    backbone = kl.VideoViTBackbone.from_preset("video_vit_micro")
    probe = kl.ReadoutClassifier(3, backbone=backbone, pooled_grid=(2, 1, 1),
                                 readout_type="linear", feature_layer=1)
    videos = np.random.default_rng(6).random((6, 4, 16, 16, 3), dtype="float32")
    probe.adapt(videos)
    restored = keras_file_round_trip(probe, tmp_path, videos[:2])
    assert restored.readout_type == "linear" and restored.pooled_grid == (2, 1, 1)
    assert restored.feature_norm.is_adapted


def test_readout_reloaded_from_keras_file_trains_again(tmp_path):
    """It failed with `no attribute 'optimizer'` (no compile_from_config)."""
    rng = np.random.default_rng(4)
    features = rng.normal(size=(32, 6, 4)).astype("float32")
    labels = (features[:, 0, 0] > 0).astype("int32")
    classifier = kl.ReadoutClassifier(2, readout_type="linear")
    classifier.adapt(features)
    classifier.compile(keras.optimizers.AdamW(1e-2))
    classifier.fit(features, labels, batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "readout.keras")
    classifier.save(path)
    restored = keras.saving.load_model(path)
    assert int(to_numpy(restored.optimizer.iterations)) == 4
    history = restored.fit(features, labels, batch_size=8, epochs=1, verbose=0)
    assert int(to_numpy(restored.optimizer.iterations)) == 8
    assert np.isfinite(history.history["loss"]).all()


def test_readout_schedule_matches_keras_cosine_decay_and_round_trips():
    for num_steps, warmup in ((500, 50), (7, 2), (10, 0), (1, 0)):
        ours = kl.evaluation.ReadoutLearningRate(3e-3, num_steps, warmup, final_learning_rate=1e-7)
        reference = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else 3e-3, max(1, num_steps - warmup), alpha=1e-7 / 3e-3,
            warmup_target=3e-3 if warmup else None, warmup_steps=warmup)
        for step in range(num_steps + 3):
            np.testing.assert_allclose(float(to_numpy(ours(step))),
                                       float(to_numpy(reference(step))), rtol=1e-5, atol=1e-12)
        restored = keras.optimizers.schedules.deserialize(
            keras.optimizers.schedules.serialize(ours))
        assert restored.get_config() == ours.get_config()
    with pytest.raises(ValueError, match="warmup_steps=5"):
        kl.evaluation.ReadoutLearningRate(1e-3, 5, 5)
    # A warm-up fraction that rounds to the whole run still leaves a decay.
    short = kl.evaluation.readout_learning_rate(1e-3, 2, 0.9)
    rates = [float(to_numpy(short(step))) for step in range(3)]
    assert rates[0] == 0.0 and rates[1] == pytest.approx(1e-3)
    assert rates[2] == pytest.approx(1e-7, rel=1e-3)
