import os

import keras
import numpy as np
import pytest
from testing_utils import Interrupt
from testing_utils import KillAfter
from testing_utils import to_numpy

import keras_layerlock as kl

BATCH = 4


def make_model(seed=3, **kwargs):
    keras.utils.set_random_seed(seed)
    backbone = kl.VideoViTBackbone(
        hidden_dim=32, num_layers=4, num_heads=2, intermediate_dim=64,
        patch_size=(2, 8, 8), num_frames=4, image_size=16,
    )
    config = dict(num_decoder_layers=2, mask_ratio=0.75, seed=1)
    config.update(kwargs)
    return kl.LayerLockMAE(backbone, **config)


def videos(n=32, seed=0):
    return np.random.default_rng(seed).random((n, 4, 16, 16, 3), dtype="float32")


def compile_model(model, lr=2e-3, weight_decay=0.05):
    model.compile(keras.optimizers.AdamW(lr, weight_decay=weight_decay, beta_2=0.95))
    return model


class Recorder(keras.callbacks.Callback):
    """Snapshots weights and optimizer variables around every step."""

    def __init__(self):
        super().__init__()
        self.before, self.after = {}, {}

    def _snapshot(self):
        model = self.model
        return {
            "weights": {v.path: to_numpy(v).copy() for v in model.weights},
            "optimizer": {v.path: to_numpy(v).copy() for v in model.optimizer.variables},
            "trainable": {v.path for v in model.trainable_variables},
        }

    def on_train_batch_begin(self, batch, logs=None):
        step = int(to_numpy(self.model.optimizer.iterations))
        self.before[step] = self._snapshot()

    def on_train_batch_end(self, batch, logs=None):
        step = int(to_numpy(self.model.optimizer.iterations)) - 1
        self.after[step] = self._snapshot()


# Two events: blocks 1 then 1-2 frozen, targets 1 then 2; 4 steps per epoch.
SCHEDULE = dict(num_steps_before_first_freeze=4, num_steps_between_freezes=3,
                num_layers_per_freeze=1, target_layers=[1, 2])
EPOCHS = 3


def layerlock_fit(backup_dir, epochs=EPOCHS, extra_callbacks=()):
    """The run every fit-level test looks at (compiling steps is slow)."""
    model = compile_model(make_model(seed=11))
    callback = kl.LayerLockCallback(kl.LayerLockSchedule(**SCHEDULE), rewarmup_steps=2, verbose=0)
    callbacks = [
        callback,
        keras.callbacks.BackupAndRestore(backup_dir, save_freq="epoch", delete_checkpoint=False),
    ] + list(extra_callbacks)
    history = model.fit(videos(16, seed=2), batch_size=BATCH, epochs=epochs, shuffle=False,
                        callbacks=callbacks, verbose=0)
    return model, history, callback


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    recorder = Recorder()
    model, history, callback = layerlock_fit(
        str(tmp_path_factory.mktemp("reference")), extra_callbacks=[recorder]
    )
    return model, history, callback, recorder


def test_freezing_inside_fit_keeps_frozen_weights_bit_identical(reference_run):
    model, history, callback, recorder = reference_run
    last = max(recorder.after)
    assert last == 4 * EPOCHS - 1
    assert [e["step"] for e in callback.events] == [4, 7]
    # The logs carry the LayerLock state (progress bar, CSVLogger, ...).
    assert history.history["num_frozen_layers"] == [0.0, 2.0, 2.0]
    assert history.history["target_layer"] == [0.0, 2.0, 2.0]
    final = recorder.after[last]
    for event in callback.events:
        step, depth = event["step"], event["num_frozen_layers"]
        prefixes = ["patch_embedding/"] + [f"transformer_layer_{i}/" for i in range(depth)]
        at_freeze = recorder.before[step]["weights"]
        frozen = [p for p in at_freeze if any(p.startswith(f) for f in prefixes)]
        assert len(frozen) == 2 + 12 * depth  # embedding + 12 per block
        for path in frozen:
            np.testing.assert_array_equal(final["weights"][path], at_freeze[path], err_msg=path)
            assert path not in recorder.before[step]["trainable"]
    # Weights that stayed trainable kept learning.
    kernel = "transformer_layer_3/qkv/kernel"
    assert np.abs(final["weights"][kernel] - recorder.before[7]["weights"][kernel]).max() > 0


def test_moments_survive_events_and_frozen_moments_do_not_drift(reference_run):
    model, _, callback, recorder = reference_run
    for event in callback.events:
        step = event["step"]
        # The event itself changes no optimizer state: moments and the step
        # count of every weight carry over untouched.
        before, after = recorder.after[step - 1]["optimizer"], recorder.before[step]["optimizer"]
        assert before.keys() == after.keys()
        for path in before:
            np.testing.assert_array_equal(before[path], after[path], err_msg=path)
    end = recorder.after[max(recorder.after)]["optimizer"]
    at_freeze = recorder.before[4]["optimizer"]
    frozen = [p for p in end if "transformer_layer_0_qkv_kernel" in p]
    live = [p for p in end if "transformer_layer_3_qkv_kernel" in p]
    assert len(frozen) == 2 and len(live) == 2  # momentum and velocity
    for path in frozen:
        np.testing.assert_array_equal(end[path], at_freeze[path])
    for path in live:
        assert np.abs(end[path] - at_freeze[path]).max() > 0
    assert int(to_numpy(model.optimizer.iterations)) == 4 * EPOCHS


def test_no_weight_decay_on_norms_biases_and_tokens():
    model = compile_model(make_model())
    optimizer = model.optimizer
    managed = [v for v in model.variables if v.trainable or "head" in v.path]
    assert any(len(v.shape) <= 1 for v in managed) and any(len(v.shape) > 1 for v in managed)
    for v in managed:
        # AdamW consults exactly this before decaying a variable.
        assert optimizer._use_weight_decay(v) == (len(v.shape) > 1), v.path
    names = {v.path for v in managed if not optimizer._use_weight_decay(v)}
    assert "layerlock_mae/latent_token" in names
    assert "transformer_layer_0/attention_norm/gamma" in names
    assert "transformer_layer_0/qkv/bias" in names


def test_loss_after_switch_is_l2_to_scheduled_block_at_masked_positions():
    model = compile_model(make_model())
    model.set_layerlock_state(num_frozen_layers=2, target_layer=2)
    x = videos(BATCH, seed=5)
    out = model(x)
    features = model.backbone(x)  # full, unmasked forward of every block
    ids = to_numpy(out["predicted_ids"])
    expected_targets = np.take_along_axis(to_numpy(features[2]), ids[..., None], axis=1)
    np.testing.assert_allclose(to_numpy(out["targets"]), expected_targets, atol=1e-5)
    loss = to_numpy(model.compute_loss(x=x, y_pred=out))
    manual = np.mean((to_numpy(out["predictions"]) - expected_targets) ** 2)
    np.testing.assert_allclose(loss, manual, rtol=1e-5)
    # Visible and predicted tokens partition the grid, per example.
    vis = to_numpy(out["visible_ids"])
    assert vis.shape[1] == model.num_visible_tokens(x.shape) == 2
    for v, p in zip(vis, ids):
        assert not set(v) & set(p) and len(set(v) | set(p)) == 8
    # Before any event the target is the tubelets' pixels.
    pixel_model = make_model()
    out = pixel_model(x)
    patches = to_numpy(kl.utils.patchify(x, (2, 8, 8)))
    ids = to_numpy(out["predicted_ids"])
    pixels = np.take_along_axis(patches, ids[..., None], 1)
    np.testing.assert_allclose(to_numpy(out["targets"]), pixels, atol=1e-6)
    # norm_pix_loss: each target tubelet standardised over its own pixels
    # (MAE: (p - mean) / sqrt(var + 1e-6), sample variance).
    norm_model = make_model(norm_pix_loss=True)
    out = norm_model(x)
    ids = to_numpy(out["predicted_ids"])
    pixels = np.take_along_axis(patches, ids[..., None], 1)
    mean = pixels.mean(-1, keepdims=True)
    var = pixels.var(-1, keepdims=True, ddof=1)
    np.testing.assert_allclose(
        to_numpy(out["targets"]), (pixels - mean) / np.sqrt(var + 1e-6), atol=1e-4
    )


def test_raw_pixel_loss_weight_adds_raw_pixels_beside_normalised_ones():
    x = videos(BATCH, seed=4)
    patches = to_numpy(kl.utils.patchify(x, (2, 8, 8)))
    model = make_model(norm_pix_loss=True, raw_pixel_loss_weight=9.0)
    out = model(x)
    ids = to_numpy(out["predicted_ids"])
    pixels = np.take_along_axis(patches, ids[..., None], 1)
    normalised = (pixels - pixels.mean(-1, keepdims=True)) / np.sqrt(
        pixels.var(-1, keepdims=True, ddof=1) + 1e-6)
    targets, predictions = to_numpy(out["targets"]), to_numpy(out["predictions"])
    patch_dim = pixels.shape[-1]
    assert targets.shape[-1] == predictions.shape[-1] == 2 * patch_dim
    np.testing.assert_allclose(targets[..., :patch_dim], normalised, atol=1e-4)
    np.testing.assert_allclose(targets[..., patch_dim:], 3.0 * pixels, atol=1e-5)
    # (mse_normalised + weight * mse_raw) / 2, the raw half predicted x 3.
    mse_normalised = np.mean((predictions[..., :patch_dim] - normalised) ** 2)
    mse_raw = np.mean((predictions[..., patch_dim:] / 3.0 - pixels) ** 2)
    loss = float(to_numpy(model.compute_loss(x=x, y_pred=out)))
    np.testing.assert_allclose(loss, (mse_normalised + 9.0 * mse_raw) / 2, rtol=1e-4)
    restored = kl.LayerLockMAE.from_config(model.get_config())
    assert restored.raw_pixel_loss_weight == 9.0 and restored.norm_pix_loss
    # Latent targets after an event are unchanged by the option.
    model.set_layerlock_state(num_frozen_layers=1, target_layer=1)
    assert to_numpy(model(x)["targets"]).shape[-1] == 32


@pytest.mark.parametrize("kwargs, match", [
    (dict(raw_pixel_loss_weight=1.0), "norm_pix_loss=True"),
    (dict(norm_pix_loss=True, raw_pixel_loss_weight=-1.0), "finite number >= 0"),
    (dict(norm_pix_loss=True, raw_pixel_loss_weight=float("nan")), "finite number >= 0"),
    (dict(norm_pix_loss=True, raw_pixel_loss_weight="16"), "received '16'"),
])
def test_raw_pixel_loss_weight_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_model(**kwargs)


def test_all_frozen_layers_target_mode():
    model = compile_model(make_model(target_mode="all"))
    model.set_layerlock_state(num_frozen_layers=2, target_layer=2)
    trainable = {v.path for v in model.trainable_variables}
    assert any("latent_head_2" in p for p in trainable)
    x = videos(BATCH, seed=5)
    out = model(x)
    features = model.backbone(x)
    ids = to_numpy(out["predicted_ids"])[..., None]
    expected = np.concatenate(
        [np.take_along_axis(to_numpy(features[k]), ids, axis=1) for k in (1, 2)], axis=-1
    )
    np.testing.assert_allclose(to_numpy(out["targets"]), expected, atol=1e-5)
    predictions = to_numpy(out["predictions"])
    assert predictions.shape == expected.shape
    loss = float(to_numpy(model.compute_loss(x=x, y_pred=out)))
    per_block = [np.mean((predictions[..., i * 32 : (i + 1) * 32] - expected[..., i * 32 : (i + 1) * 32]) ** 2)
                 for i in range(2)]
    np.testing.assert_allclose(loss, np.mean(per_block), rtol=1e-5)
    model.set_layerlock_state(num_frozen_layers=2, target_layer=1)
    assert not any("latent_head_2" in v.path for v in model.trainable_variables)
    with pytest.raises(ValueError, match="target_mode"):
        make_model(target_mode="some")


def test_visible_encoder_input_never_sees_masked_tokens():
    model = make_model()
    model.set_layerlock_state(num_frozen_layers=1, target_layer=1)
    x = videos(2, seed=6)
    state = to_numpy(model.token_masking.seed_generator.state).copy()
    out = model(x)
    # Changing masked pixels changes the targets but not what the encoder
    # saw: with the decoder fixed, predictions are unchanged.
    ids = to_numpy(out["predicted_ids"])
    y = x.copy()
    grid = (2, 2, 2)
    for b in range(2):
        for token in ids[b]:
            t, h, w = np.unravel_index(token, grid)
            y[b, 2 * t : 2 * t + 2, 8 * h : 8 * h + 8, 8 * w : 8 * w + 8] = 0.0
    model.token_masking.seed_generator.state.assign(state)
    out_y = model(y)
    np.testing.assert_array_equal(to_numpy(out_y["predicted_ids"]), ids)
    np.testing.assert_allclose(to_numpy(out_y["predictions"]), to_numpy(out["predictions"]), atol=1e-5)


def test_masking_variants_and_latent_fraction():
    x = videos(2)
    tube = make_model(masking="tube", mask_ratio=0.5)
    out = tube(x)
    vis = to_numpy(out["visible_ids"])
    # Same spatial positions in both temporal slices.
    assert vis.shape == (2, 4)
    for v in vis:
        spatial = sorted(v % 4)
        assert spatial[0::2] == spatial[1::2]
    frac = make_model(latent_loss_patch_fraction=0.5, mask_ratio=0.75)
    frac.set_layerlock_state(1, 1)
    assert to_numpy(frac(x)["predicted_ids"]).shape == (2, 3)  # half of 6 masked
    mae = make_model(decoder="mae", decoder_hidden_dim=16, decoder_num_layers=1, decoder_num_heads=2)
    out = mae(x)
    assert to_numpy(out["predictions"]).shape == to_numpy(out["targets"]).shape


def test_bad_arguments_and_states():
    model = make_model()
    with pytest.raises(ValueError, match=r"num_frozen_layers must be in \[0, 2\]"):
        model.set_layerlock_state(3, 1)
    with pytest.raises(ValueError, match="target_layer"):
        model.set_layerlock_state(1, 2)
    model.set_layerlock_state(2, 2)
    with pytest.raises(ValueError, match="never unfreezes"):
        model.set_layerlock_state(1, 1)
    with pytest.raises(ValueError, match="num_decoder_layers"):
        make_model(num_decoder_layers=4)
    with pytest.raises(ValueError, match="mask_ratio"):
        make_model(mask_ratio=1.0)
    with pytest.raises(ValueError, match="VideoViTBackbone"):
        kl.LayerLockMAE(keras.layers.Dense(3))
    compile_model(model := make_model())
    too_deep = kl.LayerLockSchedule(1, 1, target_layers=[1, 2, 3])
    with pytest.raises(ValueError, match="event 3"):
        model.fit(videos(4), batch_size=4, epochs=1, verbose=0,
                  callbacks=[kl.LayerLockCallback(too_deep, verbose=0)])


def test_rewarmup_learning_rate(reference_run):
    lr = kl.LayerLockLearningRate(1e-3, event_steps=[10, 20], rewarmup_steps=4)
    values = [float(to_numpy(lr(s))) for s in (0, 9, 10, 11, 13, 14, 20, 25)]
    np.testing.assert_allclose(values, [1e-3, 1e-3, 2.5e-4, 5e-4, 1e-3, 1e-3, 2.5e-4, 1e-3], rtol=1e-6)
    base = keras.optimizers.schedules.CosineDecay(1e-3, 100)
    wrapped = kl.LayerLockLearningRate(base, [50], 10)
    restored = kl.LayerLockLearningRate.from_config(wrapped.get_config())
    assert float(to_numpy(restored(52))) == pytest.approx(float(to_numpy(base(52))) * 0.3, rel=1e-6)
    schedule = reference_run[0].optimizer._learning_rate
    assert schedule.event_steps == [4, 7] and schedule.rewarmup_steps == 2
    assert float(to_numpy(schedule(4))) == pytest.approx(1e-3)  # half of 2e-3


def test_keras_file_round_trip_mid_schedule(reference_run, tmp_path):
    model = reference_run[0]
    assert (model.num_frozen_layers, model.target_layer) == (2, 2)
    path = os.path.join(str(tmp_path), "layerlock.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert (restored.num_frozen_layers, restored.target_layer) == (2, 2)
    assert [v.path for v in restored.trainable_variables] == [v.path for v in model.trainable_variables]
    for a, b in zip(restored.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    x = videos(2, seed=9)
    state = to_numpy(model.token_masking.seed_generator.state).copy()
    actual = restored(x)
    expected = model(x)
    model.token_masking.seed_generator.state.assign(state)
    for key in ("predictions", "targets"):
        np.testing.assert_allclose(to_numpy(actual[key]), to_numpy(expected[key]), atol=1e-6)
    assert restored.get_config() == model.get_config()


def test_resume_after_interruption_matches_uninterrupted_run(reference_run, tmp_path):
    reference, history, _, _ = reference_run
    backup = str(tmp_path / "resumed")
    with pytest.raises(Interrupt):
        layerlock_fit(backup, extra_callbacks=[KillAfter(6)])  # mid-epoch 2, after event 1
    resumed, resumed_history, callback = layerlock_fit(backup)
    assert (resumed.num_frozen_layers, resumed.target_layer) == (2, 2)
    # The resumed fit re-ran epoch 2 from its checkpoint, then epoch 3.
    assert callback.events[0] == {"step": 4, "num_frozen_layers": 1, "target_layer": 1}
    np.testing.assert_allclose(
        resumed_history.history["loss"], history.history["loss"][1:], rtol=1e-5
    )
    for a, b in zip(resumed.weights, reference.weights):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-5, err_msg=a.path)
    for a, b in zip(resumed.optimizer.variables, reference.optimizer.variables):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-5, err_msg=a.path)


def test_adaptive_start_waits_for_the_first_blocks_norms_to_plateau():
    model = compile_model(make_model(), lr=1e-3, weight_decay=0.0)
    schedule = kl.LayerLockSchedule(10**6, 3, target_layers=[1, 2])
    # A huge tolerance: the norms count as flat as soon as a window has passed.
    callback = kl.LayerLockCallback(schedule, rewarmup_steps=0, verbose=0, adaptive=True,
                                    plateau_window=4, plateau_tolerance=10.0, check_every=2)
    model.fit(videos(8), batch_size=BATCH, epochs=4, shuffle=False, verbose=0, callbacks=[callback])
    assert callback.first_freeze_step == 4
    assert [e["step"] for e in callback.events] == [4, 7]
    assert [s for s, _ in callback.norm_history] == [0, 2, 4]
    # A tolerance far below what training changes never triggers (0 is refused:
    # tests/test_bad_inputs.py).
    strict = compile_model(make_model(), lr=1e-3, weight_decay=0.0)
    never = kl.LayerLockCallback(kl.LayerLockSchedule(0, 3, target_layers=[1, 2]), rewarmup_steps=0,
                                 verbose=0, adaptive=True, plateau_window=2, plateau_tolerance=1e-12,
                                 check_every=2)
    strict.fit(videos(8), batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=[never])
    assert never.first_freeze_step is None and never.events == [] and strict.num_frozen_layers == 0


def test_analytic_flops_fall_with_num_frozen_layers_and_count_latent_targets():
    from keras_layerlock.layerlock.flops import layerlock_step_flops

    model = make_model()
    shape = (4, 4, 16, 16, 3)
    totals = []
    for depth in (0, 1, 2):
        model.set_layerlock_state(depth, 0)
        totals.append(layerlock_step_flops(model, shape)["total"])
    assert totals[0] > totals[1] > totals[2]
    model.set_layerlock_state(2, 2)
    parts = layerlock_step_flops(model, shape)
    assert parts["targets"] > 0 and parts["frozen_visible"] > 0 and parts["trainable_encoder"] == 0


def test_token_masking_layer_config_and_checkpointed_state():
    layer = kl.TokenMasking(mask_ratio=0.75, seed=3)
    clone = kl.TokenMasking.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    visible, masked = (to_numpy(t) for t in layer.sample(2, (2, 2, 2)))
    assert visible.shape == (2, 2) and masked.shape == (2, 6)
    for v, m in zip(visible, masked):
        assert sorted(np.concatenate([v, m])) == list(range(8))
    store = {}
    layer.save_own_variables(store)
    clone.load_own_variables({k: to_numpy(v) for k, v in store.items()})
    for a, b in zip(layer.sample(2, (2, 2, 2)), clone.sample(2, (2, 2, 2))):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    with pytest.raises(ValueError, match="seed_generator_state"):
        clone.load_own_variables({})
    with pytest.raises(ValueError, match="masking"):
        kl.TokenMasking(masking="block")


@pytest.mark.parametrize("decoder", ["layerlock", "mae"])
def test_rematerialised_blocks_train_exactly_as_stored_ones(decoder):
    """`VideoViTBackbone(remat=True)` recomputes each block (and the MAE
    decoder's) in the backward pass (`keras.remat`); the losses and the
    weights it reaches are the same as without it."""
    results = []
    for remat in (False, True):
        keras.utils.set_random_seed(5)
        backbone = kl.VideoViTBackbone(
            hidden_dim=32, num_layers=4, num_heads=2, intermediate_dim=64,
            patch_size=(2, 8, 8), num_frames=4, image_size=16, remat=remat)
        model = kl.LayerLockMAE(backbone, num_decoder_layers=2, mask_ratio=0.75, seed=1,
                                decoder=decoder, decoder_num_layers=2)
        if decoder == "mae":
            assert model.predictor.blocks[0].remat is remat
        # SGD: weight differences are gradient differences (Adam would
        # blow round-off in near-zero gradients up to a full step).
        model.compile(keras.optimizers.SGD(0.05))
        history = model.fit(videos(8, seed=4), batch_size=4, epochs=2, shuffle=False, verbose=0)
        results.append((history.history["loss"], [to_numpy(w) for w in model.weights]))
        assert model.backbone.transformer_layers[0].remat is remat
        assert kl.VideoViTBackbone.from_config(backbone.get_config()).remat is remat
    (losses, weights), (remat_losses, remat_weights) = results
    np.testing.assert_allclose(remat_losses, losses, rtol=1e-5)
    for a, b in zip(weights, remat_weights):
        np.testing.assert_allclose(b, a, atol=1e-5)


class FirstStepFrozen(keras.optimizers.schedules.LearningRateSchedule):
    """0 on the first update, then `rate`: a run whose first step only
    advances the seed generator (SGD: `w - 0 * g` is `w`)."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, step):
        return keras.ops.where(step < 1, 0.0, self.rate)

    def get_config(self):
        return {"rate": self.rate}


def test_gradient_accumulation_trains_as_the_mean_of_its_batches_gradients():
    """Keras' `gradient_accumulation_steps=2` over two batches of 4: both
    batches' losses are those of the unchanged weights (the same as in runs
    without accumulation that reach each batch, with the same masks, on the
    initial weights), and the one update is the mean of the two
    single-batch updates (plain SGD: updates are linear in the gradient)."""

    def train(x, learning_rate, **optimizer_kwargs):
        keras.utils.set_random_seed(5)
        backbone = kl.VideoViTBackbone(
            hidden_dim=32, num_layers=4, num_heads=2, intermediate_dim=64,
            patch_size=(2, 8, 8), num_frames=4, image_size=16)
        model = kl.LayerLockMAE(backbone, mask_ratio=0.75, seed=1, decoder="mae",
                                decoder_num_layers=1, decoder_hidden_dim=16)
        model.compile(keras.optimizers.SGD(learning_rate, **optimizer_kwargs))
        initial = [to_numpy(w) for w in model.trainable_weights]
        history = kl.callbacks.StepLossHistory()
        model.fit(x, batch_size=4, epochs=1, shuffle=False, callbacks=[history], verbose=0)
        return history.losses, initial, [to_numpy(w) for w in model.trainable_weights]

    x = videos(8, seed=4)
    losses, initial, accumulated = train(x, 0.05, gradient_accumulation_steps=2)
    first_losses, _, after_first = train(x[:4], 0.05)
    second_losses, _, after_second = train(x, FirstStepFrozen(0.05))
    assert len(losses) == 2 and len(first_losses) == 1 and len(second_losses) == 2
    np.testing.assert_allclose(losses, [first_losses[0], second_losses[1]], rtol=1e-5)
    assert losses[0] != losses[1]  # two batches, two mask draws
    moved = 0
    for w0, w, w1, w2 in zip(initial, accumulated, after_first, after_second):
        np.testing.assert_allclose(w, (w1 + w2) / 2, atol=1e-6)
        moved += int(not np.allclose(w, w0, atol=1e-6))
    assert moved > len(initial) // 2


def test_mixed_bfloat16_training_runs_through_a_freezing_event():
    """bf16 compute with float32 weights and optimizer state (Keras'
    `mixed_bfloat16` policy), across a LayerLock event."""
    keras.utils.set_random_seed(2)
    backbone = kl.VideoViTBackbone(
        hidden_dim=32, num_layers=4, num_heads=2, intermediate_dim=64, patch_size=(2, 8, 8),
        num_frames=4, image_size=16, dtype="mixed_bfloat16")
    model = compile_model(kl.LayerLockMAE(backbone, num_decoder_layers=2, seed=1,
                                          dtype="mixed_bfloat16"))
    callback = kl.LayerLockCallback(
        kl.LayerLockSchedule(num_steps_before_first_freeze=2, num_steps_between_freezes=10,
                             target_layers=[1]), rewarmup_steps=0, verbose=0)
    history = model.fit(videos(16, seed=3), batch_size=4, epochs=1, shuffle=False,
                        callbacks=[callback], verbose=0)
    assert [e["step"] for e in callback.events] == [2]
    assert np.isfinite(history.history["loss"]).all()
    assert all(v.dtype == "float32" for v in model.weights)
    assert all(v.dtype == "float32" for v in model.optimizer.variables if "iteration" not in v.path)
    out = model(videos(2), training=False)
    assert keras.backend.standardize_dtype(out["predictions"].dtype) == "bfloat16"
