import os
import warnings

import keras
import numpy as np
import pytest
from testing_utils import to_numpy

import keras_layerlock as kl

GRID = (2, 4, 4)
BATCH = 4


def make_model(seed=3, **kwargs):
    keras.utils.set_random_seed(seed)
    backbone = kl.VideoViTBackbone(
        hidden_dim=32, num_layers=3, num_heads=2, intermediate_dim=64,
        patch_size=(2, 8, 8), num_frames=4, image_size=32,
    )
    config = dict(predictor_num_layers=1, predictor_hidden_dim=16, seed=1)
    config.update(kwargs)
    return kl.VJEPA(backbone, **config)


def videos(n=16, seed=0):
    return np.random.default_rng(seed).random((n, 4, 32, 32, 3), dtype="float32")


class WeightRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.online = []

    def on_train_batch_begin(self, batch, logs=None):
        self.online.append([to_numpy(v).copy() for v in self.model.backbone.weights])


# ---------------------------------------------------------------- masks
@pytest.mark.parametrize("preset", sorted(kl.layers.MULTIBLOCK_PRESETS))
def test_multiblock_block_counts_areas_and_aspect_ratios(preset):
    grid = (4, 12, 12)
    for config in kl.layers.MULTIBLOCK_PRESETS[preset]:
        masking = kl.MultiblockMasking(**config, seed=0)
        draws = keras.random.uniform((64, masking.num_blocks, 6), seed=0)
        blocks = to_numpy(masking.block_masks(draws, grid))
        assert blocks.shape == (64, config["num_blocks"]) + grid
        lo, hi = config["spatial_scale"]
        ar_lo, ar_hi = config["aspect_ratio"]
        for block in blocks.reshape((-1,) + grid):
            t, h, w = (np.flatnonzero(block.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1)))
            # A box: every (t, h, w) in the ranges is inside, nothing else.
            assert block.sum() == len(t) * len(h) * len(w)
            assert len(t) == grid[0]  # repeated through the whole clip
            assert np.all(np.diff(h) == 1) and np.all(np.diff(w) == 1)
            # Rounding to whole tokens moves the area and ratio a little.
            area = len(h) * len(w) / (grid[1] * grid[2])
            assert lo * 0.6 <= area <= hi * 1.4 + 0.05
            assert ar_lo * 0.7 <= len(h) / len(w) <= ar_hi * 1.4
            assert len(h) < grid[1] and len(w) < grid[2]


def test_multiblock_context_is_the_complement_of_the_targets():
    masking = kl.MultiblockMasking(num_blocks=4, spatial_scale=0.2, seed=3)
    num_context, num_target = masking.token_counts(GRID)
    context, context_valid, target, target_valid = to_numpy(masking.sample(32, GRID))
    assert context.shape == context_valid.shape == (32, num_context)
    assert target.shape == target_valid.shape == (32, num_target)
    complete = 0
    for c, cv, t, tv in zip(context, context_valid, target, target_valid):
        visible, hidden = set(c[cv]), set(t[tv])
        assert not visible & hidden
        assert len(set(c)) == len(c) and len(set(t)) == len(t)
        if cv.sum() < num_context and tv.sum() < num_target:
            # Both lists hold padding, so they hold every token of their kind.
            assert visible | hidden == set(range(np.prod(GRID)))
            complete += 1
    assert complete > 0
    # The static sizes cover most clips completely (token_quantile=0.95).
    assert np.mean(context_valid.sum(1) < num_context) > 0.5


def test_multiblock_always_leaves_some_context():
    # Eight blocks of 60 % on a 3 x 3 grid hide every token of most clips.
    masking = kl.MultiblockMasking(num_blocks=8, spatial_scale=0.6, seed=0)
    context, context_valid, target, target_valid = to_numpy(masking.sample(64, (2, 3, 3)))
    assert context_valid.sum(axis=1).min() >= 1
    for c, cv, t, tv in zip(context, context_valid, target, target_valid):
        assert not set(c[cv]) & set(t[tv])


def test_multiblock_bad_arguments_and_round_trip():
    with pytest.raises(ValueError, match="spatial_scale"):
        kl.MultiblockMasking(spatial_scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="num_blocks"):
        kl.MultiblockMasking(num_blocks=0)
    with pytest.raises(ValueError, match="Unknown mask preset"):
        make_model(masks="nope")
    layer = kl.MultiblockMasking(num_blocks=3, spatial_scale=(0.1, 0.3), seed=5)
    clone = kl.MultiblockMasking.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


# ------------------------------------------------------------- training
def test_ema_teacher_follows_the_formula_inside_fit():
    steps = 6
    model = make_model(ema_momentum=(0.5, 0.9), ema_steps=4)
    model.compile(keras.optimizers.AdamW(3e-3, weight_decay=0.04))
    teacher = [to_numpy(v).copy() for v in model.target_encoder.weights]
    for a, b in zip(teacher, model.backbone.weights):
        np.testing.assert_array_equal(a, to_numpy(b))
    recorder = WeightRecorder()
    model.fit(videos(BATCH * steps), batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
              callbacks=[recorder])
    assert len(recorder.online) == steps
    for step, online in enumerate(recorder.online):
        m = min(0.5 + 0.4 * step / 4, 0.9)
        teacher = [m * t + (1 - m) * o for t, o in zip(teacher, online)]
    assert float(to_numpy(model.ema_step)) == steps
    for expected, variable in zip(teacher, model.target_encoder.weights):
        np.testing.assert_allclose(to_numpy(variable), expected, rtol=1e-5, atol=1e-6,
                                   err_msg=variable.path)
    # The teacher moved away from where it started and is not the student.
    assert not np.allclose(to_numpy(model.target_encoder.weights[-1]),
                           to_numpy(model.backbone.weights[-1]))


@pytest.fixture(scope="module")
def layerlock_vjepa():
    model = make_model(ema_momentum=0.9, loss="l2")
    model.compile(keras.optimizers.AdamW(3e-3, weight_decay=0.04))
    schedule = kl.LayerLockSchedule(num_steps_before_first_freeze=3, num_steps_between_freezes=3,
                                    target_layers=[1, 2])
    decay = kl.WeightDecayScheduler(0.04, 0.4, total_steps=12, update_every=4)
    frozen_weights = {}

    class Snapshot(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if self.model.num_frozen_layers == 2 and not frozen_weights:
                frozen_weights.update({v.path: to_numpy(v).copy() for v in self.model.weights})

    history = model.fit(videos(BATCH * 4), batch_size=BATCH, epochs=3, shuffle=False, verbose=0,
                        callbacks=[kl.LayerLockCallback(schedule, verbose=0), decay, Snapshot()])
    return model, history, decay, frozen_weights


def test_frozen_teacher_blocks_equal_online_blocks(layerlock_vjepa):
    model, history, _, snapshot = layerlock_vjepa
    assert (model.num_frozen_layers, model.target_layer) == (2, 2)
    assert history.history["num_frozen_layers"][-1] == 2
    online, teacher = model.backbone, model.target_encoder
    frozen = [online.patch_embedding] + online.transformer_layers[:2]
    copies = [teacher.patch_embedding] + teacher.transformer_layers[:2]
    for layer, copy in zip(frozen, copies):
        for a, b in zip(layer.weights, copy.weights):
            np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)
            # And neither moved after the freeze.
            np.testing.assert_array_equal(to_numpy(a), snapshot[a.path], err_msg=a.path)
    # The live block's teacher is an EMA, not a copy.
    assert not np.array_equal(to_numpy(online.transformer_layers[2].weights[0]),
                              to_numpy(teacher.transformer_layers[2].weights[0]))


def test_targets_after_switch_are_normalised_frozen_activations(layerlock_vjepa):
    model = layerlock_vjepa[0]
    x = videos(2, seed=5)
    out = model(x)
    backbone = model.backbone
    tokens, positions = backbone.embed(x)
    block = to_numpy(backbone.encode(tokens, positions, 0, model.target_layer)[-1])
    mean, var = block.mean(-1, keepdims=True), block.var(-1, keepdims=True)
    normalised = (block - mean) / np.sqrt(var + 1e-5)
    for ids, targets, valid, predictions in zip(
        out["target_ids"], out["targets"], out["target_valid"], out["predictions"]
    ):
        ids, targets = to_numpy(ids), to_numpy(targets)
        expected = np.take_along_axis(normalised, ids[..., None], axis=1)
        np.testing.assert_allclose(targets, expected, atol=1e-4)
    loss = float(to_numpy(model.compute_loss(y_pred=out)))
    manual = np.mean([
        np.sum(((to_numpy(p) - to_numpy(t)) ** 2).mean(-1) * to_numpy(v)) / to_numpy(v).sum()
        for p, t, v in zip(out["predictions"], out["targets"], out["target_valid"])
    ])
    np.testing.assert_allclose(loss, manual, rtol=1e-5)


def test_weight_decay_follows_the_cosine_schedule(layerlock_vjepa):
    model, history, decay, _ = layerlock_vjepa
    np.testing.assert_allclose(decay.value_at(0), 0.04)
    np.testing.assert_allclose(decay.value_at(12), 0.4)
    np.testing.assert_allclose(decay.value_at(6), 0.22)
    assert model.optimizer.weight_decay == pytest.approx(decay.value_at(8))
    assert history.history["weight_decay"][-1] == pytest.approx(decay.value_at(8))


@pytest.mark.parametrize("predictor", [
    {},  # V-JEPA's separate predictor
    {"predictor": "layerlock", "predictor_hidden_dim": None},  # the backbone's last block
])
def test_context_encoder_and_predictor_never_see_target_tokens(predictor):
    model = make_model(masks=[{"num_blocks": 2, "spatial_scale": 0.3}], **predictor)
    x = videos(2, seed=1)
    state = to_numpy(model.maskings[0].seed_generator.state).copy()
    out = model(x)
    target_ids = to_numpy(out["target_ids"][0])
    valid = to_numpy(out["target_valid"][0])
    # Change the pixels of every target token (invalid padding ids are
    # target-region tokens too); the predictions must not move.
    changed = x.copy()
    for b in range(2):
        for token in target_ids[b][valid[b]]:
            t, rest = divmod(int(token), 16)
            h, w = divmod(rest, 4)
            changed[b, 2 * t : 2 * t + 2, 8 * h : 8 * h + 8, 8 * w : 8 * w + 8] += 5.0
    model.maskings[0].seed_generator.state.assign(state)
    out_changed = model(changed)
    np.testing.assert_array_equal(to_numpy(out_changed["target_ids"][0]), target_ids)
    np.testing.assert_allclose(to_numpy(out_changed["predictions"][0]),
                               to_numpy(out["predictions"][0]), atol=1e-5)
    assert not np.allclose(to_numpy(out_changed["targets"][0]), to_numpy(out["targets"][0]))


def test_keras_file_round_trip_mid_schedule(layerlock_vjepa, tmp_path):
    model = layerlock_vjepa[0]
    path = os.path.join(str(tmp_path), "vjepa.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, kl.VJEPA)
    assert (restored.num_frozen_layers, restored.target_layer) == (2, 2)
    assert restored.get_config() == model.get_config()
    for a, b in zip(restored.weights, model.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)
    for a, b in zip(restored.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)
    x = videos(2, seed=9)
    expected = model(x)
    actual = restored(x)
    for a, b in zip(actual["predictions"], expected["predictions"]):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-6)


# ------------------------------------------------------------- collapse
def test_collapse_statistics_low_for_constant_high_for_random():
    rng = np.random.default_rng(0)
    constant = np.tile(rng.normal(size=(1, 32)), (256, 1)).astype("float32")
    random = rng.normal(size=(256, 32)).astype("float32")
    low = {k: float(to_numpy(v)) for k, v in kl.feature_collapse_statistics(constant).items()}
    high = {k: float(to_numpy(v)) for k, v in kl.feature_collapse_statistics(random).items()}
    assert low["feature_std"] < 1e-4 and low["effective_rank"] < 1.5
    assert high["feature_std"] == pytest.approx(1 / np.sqrt(32), rel=0.1)
    assert high["effective_rank"] > 0.8 * 32
    with pytest.raises(ValueError, match="n >= 2"):
        kl.feature_collapse_statistics(random[:1])


def test_collapse_monitor_logs_and_warns_on_collapse():
    model = make_model()
    model.compile(keras.optimizers.AdamW(1e-3))
    monitor = kl.CollapseMonitor(videos(8, seed=3), pooling="mean")
    history = model.fit(videos(8), batch_size=BATCH, epochs=1, verbose=0, callbacks=[monitor])
    assert history.history["effective_rank"][0] > 4  # of at most 8 clips
    assert history.history["feature_std"][0] > 0
    # Collapse the encoder: every clip the same features.
    for v in model.backbone.patch_embedding.weights:
        v.assign(np.zeros(v.shape, "float32"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        monitor.on_epoch_end(1, {})
    assert any("collapsing" in str(w.message) for w in caught)
    assert monitor.history[-1]["effective_rank"] < 1.5


@pytest.mark.parametrize("position_encoding", ["learned", "rope3d"])
def test_vjepa_with_learned_positions_or_rope(position_encoding):
    keras.utils.set_random_seed(0)
    backbone = kl.VideoViTBackbone(
        hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64, patch_size=(2, 8, 8),
        num_frames=4, image_size=32, position_encoding=position_encoding,
        use_final_norm=position_encoding == "learned",
    )
    model = kl.VJEPA(backbone, predictor_num_layers=1, predictor_hidden_dim=16, masks="vjepa")
    assert (model.predictor.rotary_embedding is None) == (position_encoding == "learned")
    out = model(videos(2))
    assert len(out["predictions"]) == 2  # the short- and long-range masks
    for predictions, targets in zip(out["predictions"], out["targets"]):
        assert predictions.shape == targets.shape and predictions.shape[-1] == 32
    if position_encoding == "learned":
        # The teacher's position table is a copy, not the online one.
        assert model.target_encoder.position_embedding is not backbone.position_embedding
        np.testing.assert_array_equal(to_numpy(model.target_encoder.position_embedding.weights[0]),
                                      to_numpy(backbone.position_embedding.weights[0]))


# ------------------------------------------------- variance / covariance
def test_variance_covariance_terms_match_numpy():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(32, 8)).astype("float32") * np.linspace(0.1, 2.0, 8, dtype="float32")
    variance, covariance = kl.losses.variance_covariance_loss(z, variance_target=1.0)
    cov = np.cov(z, rowvar=False)
    expected_variance = np.mean(np.maximum(0.0, 1.0 - np.sqrt(np.diag(cov) + 1e-4)))
    expected_covariance = (np.sum(cov**2) - np.sum(np.diag(cov) ** 2)) / 8
    np.testing.assert_allclose(to_numpy(variance), expected_variance, rtol=1e-4)
    np.testing.assert_allclose(to_numpy(covariance), expected_covariance, rtol=1e-4)
    # A collapsed batch pays the whole hinge; zero-weight rows are left out.
    collapsed, _ = kl.losses.variance_covariance_loss(np.ones((16, 8), "float32"))
    np.testing.assert_allclose(to_numpy(collapsed), 1.0 - 1e-2, rtol=1e-5)
    weights = np.r_[np.ones(32), np.zeros(8)].astype("float32")
    padded = np.concatenate([z, np.full((8, 8), 1e3, "float32")])
    np.testing.assert_allclose(
        to_numpy(kl.losses.variance_covariance_loss(padded, weights=weights)[0]),
        expected_variance, rtol=1e-4)
    with pytest.raises(ValueError, match="2-D"):
        kl.losses.variance_covariance_loss(np.ones((2, 3, 4), "float32"))


def test_vjepa_variance_and_covariance_terms_enter_the_loss():
    x = videos(BATCH)
    plain = make_model()
    regularised = make_model(variance_loss_weight=2.0, covariance_loss_weight=0.5)
    out = regularised(x)
    pooled = out["context_embeddings"]
    assert len(pooled) == len(out["predictions"]) and pooled[0].shape == (BATCH, 32)
    base = to_numpy(plain.compute_loss(y_pred=plain(x)))
    loss = to_numpy(regularised.compute_loss(y_pred=out))
    terms = [kl.losses.variance_covariance_loss(z) for z in pooled]
    extra = 2.0 * np.mean([to_numpy(t[0]) for t in terms]) + 0.5 * np.mean(
        [to_numpy(t[1]) for t in terms])
    # Same seeds: same masks, same predictions; only the extra terms differ.
    np.testing.assert_allclose(loss, base + extra, rtol=1e-5)
    assert extra > 0
    config = regularised.get_config()
    assert config["variance_loss_weight"] == 2.0 and config["covariance_loss_weight"] == 0.5
    again = kl.VJEPA.from_config(config)
    assert again.variance_target == 1.0 and again.covariance_loss_weight == 0.5
    with pytest.raises(ValueError, match="variance_loss_weight"):
        make_model(variance_loss_weight=-1.0)


def test_vjepa_variance_and_covariance_over_context_tokens():
    x = videos(BATCH)
    plain = make_model()
    tokens = make_model(variance_loss_weight=2.0, covariance_loss_weight=0.5,
                        variance_covariance_samples="tokens")
    out = tokens(x)
    base = to_numpy(plain.compute_loss(y_pred=plain(x)))
    loss = to_numpy(tokens.compute_loss(y_pred=out))
    extra = []
    for z, valid in zip(out["context_tokens"], out["context_valid"]):
        z, valid = to_numpy(z), to_numpy(valid).astype(bool)
        assert z.shape[:2] == valid.shape and z.shape[-1] == 32
        # Padding tokens are left out: the terms of the valid tokens alone.
        kept = z[valid]
        variance, covariance = kl.losses.variance_covariance_loss(kept)
        extra.append((to_numpy(variance), to_numpy(covariance)))
    extra = 2.0 * np.mean([e[0] for e in extra]) + 0.5 * np.mean([e[1] for e in extra])
    np.testing.assert_allclose(loss, base + extra, rtol=1e-5)
    config = tokens.get_config()
    assert config["variance_covariance_samples"] == "tokens"
    assert kl.VJEPA.from_config(config).variance_covariance_samples == "tokens"
    with pytest.raises(ValueError, match="received 'patches'"):
        make_model(variance_covariance_samples="patches")


@pytest.mark.parametrize("initial_target_layer", [None, 1, 2])
def test_initial_target_layer_sets_the_target_before_the_first_freeze(initial_target_layer):
    model = make_model(initial_target_layer=initial_target_layer)
    assert model.num_frozen_layers == 0 and model.target_layer == 0
    x = videos(2, seed=5)
    out = model(x)
    teacher = model.target_encoder
    tokens, positions = teacher.embed(x)
    end = initial_target_layer or teacher.num_layers
    block = to_numpy(teacher.encode(tokens, positions, 0, end)[-1])
    normalised = (block - block.mean(-1, keepdims=True)) / np.sqrt(block.var(-1, keepdims=True) + 1e-5)
    ids = to_numpy(out["target_ids"][0])
    expected = np.take_along_axis(normalised, ids[..., None], axis=1)
    np.testing.assert_allclose(to_numpy(out["targets"][0]), expected, atol=1e-4)
    flops = kl.layerlock.step_flops(model, (BATCH, 4, 32, 32, 3))
    reference = kl.layerlock.step_flops(make_model(), (BATCH, 4, 32, 32, 3))
    assert (flops["targets"] < reference["targets"]) == (initial_target_layer is not None)
    restored = kl.VJEPA.from_config(model.get_config())
    assert restored.initial_target_layer == initial_target_layer


@pytest.mark.parametrize("bad", [0, 4, 1.5, "1", True])
def test_initial_target_layer_rejects_what_is_not_a_block(bad):
    with pytest.raises(ValueError, match="initial_target_layer.*received"):
        make_model(initial_target_layer=bad)


def test_pixel_start_predicts_pixels_then_frozen_activations():
    model = make_model(initial_target_layer="pixels", norm_pix_loss=True, raw_pixel_loss_weight=4.0,
                       masks=[{"num_blocks": 2, "spatial_scale": 0.3}])
    x = videos(2, seed=5)
    out = model(x)
    # Before the first freeze: each target tubelet standardised over its
    # pixels (sample variance), the raw pixels times sqrt(4) beside it.
    patches = to_numpy(kl.utils.video_patches.patchify(x, (2, 8, 8)))
    ids = to_numpy(out["target_ids"][0])
    raw = np.take_along_axis(patches, ids[..., None], axis=1)
    normalised = (raw - raw.mean(-1, keepdims=True)) / np.sqrt(raw.var(-1, ddof=1, keepdims=True) + 1e-6)
    expected = np.concatenate([normalised, 2.0 * raw], axis=-1)
    np.testing.assert_allclose(to_numpy(out["targets"][0]), expected, atol=1e-4)
    assert out["predictions"][0].shape == expected.shape
    assert kl.layerlock.step_flops(model, (BATCH, 4, 32, 32, 3))["targets"] == 0
    # The pixel loss is the mean squared error over the valid targets.
    valid = to_numpy(out["target_valid"][0])[..., None]
    error = (to_numpy(out["predictions"][0]) - expected) ** 2
    pixel_loss = (error.mean(-1, keepdims=True) * valid).sum() / valid.sum()
    np.testing.assert_allclose(float(to_numpy(model.compute_loss(y_pred=out))), pixel_loss,
                               rtol=1e-5)
    # After the first event: the frozen block's normalised activations, and
    # the pixel head frozen with it.
    model.set_layerlock_state(1, 1)
    assert not model.pixel_head.trainable
    out = model(x)
    tokens, positions = model.target_encoder.embed(x)
    block = to_numpy(model.target_encoder.encode(tokens, positions, 0, 1)[-1])
    block = (block - block.mean(-1, keepdims=True)) / np.sqrt(block.var(-1, keepdims=True) + 1e-5)
    ids = to_numpy(out["target_ids"][0])
    np.testing.assert_allclose(
        to_numpy(out["targets"][0]), np.take_along_axis(block, ids[..., None], axis=1), atol=1e-4)
    restored = kl.VJEPA.from_config(model.get_config())
    assert restored.initial_target_layer == "pixels" and restored.norm_pix_loss
    assert restored.raw_pixel_loss_weight == 4.0


@pytest.mark.parametrize("on_pixels", [False, True])
def test_variance_covariance_terms_start_with_the_latent_targets(on_pixels):
    x = videos(BATCH)
    config = dict(initial_target_layer="pixels", variance_loss_weight=2.0,
                  covariance_loss_weight=0.5, variance_covariance_on_pixels=on_pixels)
    regularised, plain = make_model(**config), make_model(initial_target_layer="pixels")

    def extra_terms(out):
        terms = [kl.losses.variance_covariance_loss(z) for z in out["context_embeddings"]]
        return 2.0 * np.mean([to_numpy(t[0]) for t in terms]) + 0.5 * np.mean(
            [to_numpy(t[1]) for t in terms])

    for num_frozen in (0, 1):
        regularised.set_layerlock_state(num_frozen, num_frozen)
        plain.set_layerlock_state(num_frozen, num_frozen)
        out = regularised(x)
        loss = to_numpy(regularised.compute_loss(y_pred=out))
        base = to_numpy(plain.compute_loss(y_pred=plain(x)))
        applied = on_pixels or num_frozen > 0
        assert regularised.applies_variance_covariance == applied
        # Same seeds: same masks and predictions; only the extra terms differ.
        np.testing.assert_allclose(loss, base + (extra_terms(out) if applied else 0.0), rtol=1e-5)
    again = kl.VJEPA.from_config(regularised.get_config())
    assert again.variance_covariance_on_pixels is on_pixels
    with pytest.raises(ValueError, match="variance_covariance_on_pixels.*received 'yes'"):
        make_model(variance_covariance_on_pixels="yes")


def test_pixel_start_trains_inside_fit_and_round_trips(tmp_path):
    model = make_model(initial_target_layer="pixels", ema_steps=8)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    schedule = kl.LayerLockSchedule(num_steps_before_first_freeze=2, num_steps_between_freezes=2,
                                    num_layers_per_freeze=1, target_layers=[1, 2])
    head_before = to_numpy(model.pixel_head.kernel).copy()
    history = model.fit(videos(8), batch_size=4, epochs=3,
                        callbacks=[kl.LayerLockCallback(schedule, verbose=0)], verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert (model.num_frozen_layers, model.target_layer) == (2, 2)
    head_after = to_numpy(model.pixel_head.kernel)
    assert not np.allclose(head_before, head_after)  # trained in the pixel phase
    path = str(tmp_path / "pixels.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(to_numpy(restored.pixel_head.kernel), head_after)
    assert restored.pixel_start and not restored.pixel_head.trainable


def test_pixel_target_options_need_the_pixel_start():
    with pytest.raises(ValueError, match="norm_pix_loss=True.*initial_target_layer='pixels'"):
        make_model(norm_pix_loss=True)
    with pytest.raises(ValueError, match="raw_pixel_loss_weight.*norm_pix_loss=False"):
        make_model(initial_target_layer="pixels", raw_pixel_loss_weight=2.0)
    with pytest.raises(ValueError, match="initial_target_layer.*received 'pixel'"):
        make_model(initial_target_layer="pixel")


# ------------------------------------------- the backbone's blocks as predictor
def make_block_predictor_model(**kwargs):
    return make_model(predictor="layerlock", predictor_num_layers=1, predictor_hidden_dim=None,
                      **kwargs)


def test_block_predictor_runs_the_last_blocks_on_context_and_queries():
    model = make_block_predictor_model(initial_target_layer="pixels",
                                       masks=[{"num_blocks": 2, "spatial_scale": 0.3}])
    assert model.predictor is None and model.num_encoder_layers == 2
    assert model.num_teacher_blocks == 0
    x = videos(2, seed=5)
    state = to_numpy(model.maskings[0].seed_generator.state).copy()
    out = model(x)
    backbone = model.backbone
    # The context encoder is blocks 1-2 only.
    tokens, positions = backbone.embed(x)
    ids, valid = to_numpy(out["context_ids"][0]), to_numpy(out["context_valid"][0])
    context = np.take_along_axis(to_numpy(tokens), ids[..., None], axis=1)
    context_positions = to_numpy(positions)[ids]
    encoded = to_numpy(backbone.encode(context, context_positions, 0, 2, attention_mask=valid)[-1])
    np.testing.assert_allclose(to_numpy(out["context_tokens"][0]), encoded, atol=1e-5)
    assert out["predictions"][0].shape[-1] == model.pixel_head.units
    # Block 3 is the predictor: moving it moves the predictions, not the context.
    block = backbone.transformer_layers[2]
    block.weights[0].assign(to_numpy(block.weights[0]) + 0.5)
    model.maskings[0].seed_generator.state.assign(state)
    moved = model(x)
    np.testing.assert_allclose(to_numpy(moved["context_tokens"][0]), encoded, atol=1e-5)
    assert not np.allclose(to_numpy(moved["predictions"][0]), to_numpy(out["predictions"][0]))
    # Latent targets by default are the teacher's encoder output (block 2).
    latent = make_block_predictor_model()
    assert latent.num_teacher_blocks == 2
    flops = kl.layerlock.step_flops(model, (BATCH, 4, 32, 32, 3))
    num_context, num_target = model.maskings[0].token_counts(GRID)
    block_flops = kl.layerlock.flops.transformer_block_forward_flops
    expected = 3 * (block_flops(num_context + num_target, 32, 64)
                    + 2 * num_target * 32 * model.pixel_head.units)
    assert flops["predictor"] == BATCH * expected
    assert flops["trainable_encoder"] == BATCH * 3 * 2 * block_flops(num_context, 32, 64)


def test_block_predictor_freezes_encoder_blocks_only_inside_fit(tmp_path):
    model = make_block_predictor_model(initial_target_layer="pixels", ema_steps=8)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    with pytest.raises(ValueError, match=r"num_frozen_layers must be in \[0, 2\]"):
        model.set_layerlock_state(3, 2)
    schedule = kl.LayerLockSchedule(num_steps_before_first_freeze=2, num_steps_between_freezes=2,
                                    num_layers_per_freeze=1, target_layers=[1, 2])
    predictor_block = model.backbone.transformer_layers[2]
    teacher_block = to_numpy(model.target_encoder.transformer_layers[2].weights[0]).copy()
    before = to_numpy(predictor_block.weights[0]).copy()
    history = model.fit(videos(8), batch_size=4, epochs=3,
                        callbacks=[kl.LayerLockCallback(schedule, verbose=0)], verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert (model.num_frozen_layers, model.target_layer) == (2, 2)
    # The predictor block keeps training; the teacher never runs it, so
    # its copy there is not updated.
    assert predictor_block.trainable and model.latent_head.trainable
    assert not model.pixel_head.trainable
    assert not np.allclose(to_numpy(predictor_block.weights[0]), before)
    np.testing.assert_array_equal(
        to_numpy(model.target_encoder.transformer_layers[2].weights[0]), teacher_block)
    path = str(tmp_path / "block_predictor.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.get_config() == model.get_config()
    assert restored.predictor_type == "layerlock"
    x = videos(2, seed=9)
    for a, b in zip(restored(x)["predictions"], model(x)["predictions"]):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-6)


def test_block_predictor_bad_arguments():
    with pytest.raises(ValueError, match="`predictor` must be one of.*received 'narrow'"):
        make_model(predictor="narrow")
    with pytest.raises(ValueError, match="between 1 and num_layers - 1 = 2; received 3"):
        make_model(predictor="layerlock", predictor_num_layers=3, predictor_hidden_dim=None)
    with pytest.raises(ValueError, match="predictor_hidden_dim.*Leave them at None"):
        make_model(predictor="layerlock", predictor_hidden_dim=16)
    with pytest.raises(ValueError, match="predictor_num_layers.*received 0"):
        make_model(predictor_num_layers=0)
    with pytest.raises(ValueError, match="initial_target_layer.*received 3"):
        make_block_predictor_model(initial_target_layer=3)
