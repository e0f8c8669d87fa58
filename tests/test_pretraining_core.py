"""The pretraining core: the shared base, the EMA teacher, the private
Keras internals the library relies on, and the package layout."""

import importlib
import os

import keras
import numpy as np
import pytest
from testing_utils import to_numpy

import keras_layerlock as kl
from keras_layerlock.utils import keras_internals


def tiny_backbone(seed=0):
    keras.utils.set_random_seed(seed)
    return kl.VideoViTBackbone(
        hidden_dim=16, num_layers=2, num_heads=2, intermediate_dim=32,
        patch_size=(2, 8, 8), num_frames=4, image_size=16,
    )


def test_every_pretraining_model_shares_the_core():
    assert issubclass(kl.LayerLockMAE, kl.PretrainingModel)
    assert issubclass(kl.VJEPA, kl.PretrainingModel)
    assert kl.LayerLockModel is kl.PretrainingModel


@pytest.mark.parametrize("module, names", [
    ("keras_layerlock.layerlock", ["LayerLockSchedule", "LayerLockCallback",
                                   "LayerLockLearningRate", "restrict_optimizer", "step_flops"]),
    ("keras_layerlock.callbacks", ["StepLossHistory", "WeightDecayScheduler", "CollapseMonitor",
                                   "LayerLockCallback", "IntegerLogsProgbarLogger"]),
    ("keras_layerlock.losses", ["MaskedDepthL2", "MaskedDepthAbsRel", "feature_prediction_loss",
                                "masked_reconstruction_loss", "pixel_targets"]),
    ("keras_layerlock.metrics", ["AbsRel", "LastValue", "feature_collapse_statistics"]),
    ("keras_layerlock.optimizers", ["LayerwiseDecayAdamW"]),
    ("keras_layerlock.models", ["PretrainingModel", "EMATeacher", "LayerLockMAE", "VJEPA",
                                "KerasHubTask", "register_preset", "unregister_preset"]),
])
def test_folders_hold_what_their_names_say(module, names):
    module = importlib.import_module(module)
    for name in names:
        assert hasattr(module, name), f"{module.__name__} lacks {name}"


def test_private_keras_use_lives_in_one_module():
    root = os.path.dirname(kl.__file__)
    offenders = []
    for folder, _, files in os.walk(root):
        for file in files:
            if not file.endswith(".py") or file == "keras_internals.py":
                continue
            text = open(os.path.join(folder, file)).read()
            for needle in ("keras.src", "._var_key", "._trainable_variables",
                           "optimizer._learning_rate", "self._model", "backend() ==", "backend() !=",
                           "._build_shapes_dict", "_maybe_init_progbar", "progbar._values"):
                if needle in text:
                    offenders.append(f"{file}: {needle}")
    assert not offenders, offenders


def test_keras_internals_still_exist():
    """Fails loudly, naming the attribute, when Keras changes an internal."""
    from keras.src.utils import tracking

    assert hasattr(tracking, "DotNotTrackScope"), "keras.src.utils.tracking.DotNotTrackScope is gone"
    variable = keras.Variable(np.zeros((2,), "float32"))
    optimizer = keras.optimizers.AdamW(1e-3, use_ema=True)
    optimizer.build([variable])
    for name in keras_internals.PRIVATE_OPTIMIZER_ATTRIBUTES:
        assert hasattr(optimizer, name), f"keras optimizers no longer have `{name}`"
    key = keras_internals.optimizer_variable_key(optimizer, variable)
    assert keras_internals.optimizer_variable_indices(optimizer) == {key: 0}
    callback = keras.callbacks.Callback()
    assert hasattr(callback, "_model"), "keras callbacks no longer have `_model`"
    logger = keras.callbacks.ProgbarLogger()
    assert hasattr(logger, "_maybe_init_progbar"), "ProgbarLogger._maybe_init_progbar is gone"
    logger.set_params({"verbose": 1, "epochs": 1, "steps": 2})
    logger._maybe_init_progbar()
    assert isinstance(getattr(logger.progbar, "_values", None), dict), "Progbar._values is gone"
    from keras_hub.src.utils import preset_utils

    for name in ("register_presets", "BUILTIN_PRESETS", "BUILTIN_PRESETS_FOR_BACKBONE"):
        assert hasattr(preset_utils, name), f"keras_hub preset_utils.{name} is gone"


def test_xla_cpu_ynn_fusions_are_off_on_jax_unless_the_user_sets_the_flag():
    """`import keras_layerlock` turns XLA's CPU YNNPACK fusions off for
    JAX (1.9x faster video MAE steps on CPU; `keras_internals`), and leaves
    other backends and a user's own setting of the flag alone."""
    import subprocess
    import sys

    environ = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    added = keras_internals.configure_xla_cpu(environ)
    jax_here = keras.backend.backend() == "jax"
    if jax_here:
        import jaxlib

        jax_here = tuple(int(p) for p in jaxlib.__version__.split(".")[:2]) in \
            keras_internals.YNN_FLAG_JAXLIB_VERSIONS
    assert added is jax_here
    assert environ["XLA_FLAGS"] == "--xla_dump_to=/tmp/x" + (
        f" {keras_internals.YNN_FUSION_FLAG}=" if jax_here else "")
    own = {"XLA_FLAGS": f"{keras_internals.YNN_FUSION_FLAG}=LIBRARY_FUSION_TYPE_DOT"}
    assert not keras_internals.configure_xla_cpu(dict(own))
    if not jax_here:
        return
    # In effect in a fresh process: a compiled dot has no YNNPACK fusion.
    probe = ("import keras_layerlock, jax, jax.numpy as jnp; a = jnp.ones((64, 64)); "
             "print('ynn' in jax.jit(lambda a: jnp.tanh(a @ a + 1)).lower(a).compile().as_text())")
    for xla_flags, expected in (("", "False"), (own["XLA_FLAGS"], "True")):
        env = dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS=xla_flags)
        result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                                text=True, timeout=300)
        assert result.stdout.strip().splitlines()[-1] == expected, result.stderr[-2000:]


def test_keras_version_is_supported():
    low, high = keras_internals.SUPPORTED_KERAS
    version = tuple(int(p) for p in keras.__version__.split(".")[:2])
    assert version >= tuple(int(p) for p in low[2:].split(".")[:2])
    assert version < tuple(int(p) for p in high[1:].split(".")[:2])


def test_ema_teacher_update_and_ramp():
    online = keras.layers.Dense(3)
    online.build((None, 2))
    teacher = kl.EMATeacher.copy_of(online, "teacher")
    assert teacher.trainable is False
    np.testing.assert_array_equal(to_numpy(teacher.kernel), to_numpy(online.kernel))
    ema = kl.EMATeacher(momentum=(0.5, 1.0), num_steps=4)
    old = to_numpy(teacher.kernel)
    online.kernel.assign(online.kernel + 1.0)
    ema.update([(online, teacher)])
    np.testing.assert_allclose(to_numpy(teacher.kernel), old + 0.5, rtol=1e-6)
    assert float(to_numpy(ema.step)) == 1.0
    np.testing.assert_allclose(float(to_numpy(ema.momentum_at(2))), 0.75)
    np.testing.assert_allclose(float(to_numpy(ema.momentum_at(40))), 1.0)
    kl.EMATeacher.copy_weights([(online, teacher)])
    np.testing.assert_array_equal(to_numpy(teacher.kernel), to_numpy(online.kernel))


def test_ema_teacher_config_round_trip():
    ema = kl.EMATeacher(momentum=0.99, num_steps=10, name="t")
    clone = kl.EMATeacher.from_config(ema.get_config())
    assert clone.momentum == (0.99, 0.99) and clone.num_steps == 10


@pytest.mark.parametrize("kwargs, match", [
    ({"momentum": 1.5}, "momentum"),
    ({"momentum": (0.9,)}, "momentum"),
    ({"momentum": "0.9"}, "momentum"),
    ({"num_steps": 0}, "num_steps"),
    ({"num_steps": 2.5}, "num_steps"),
])
def test_ema_teacher_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kl.EMATeacher(**kwargs)


def test_vjepa_uses_the_ema_teacher():
    model = kl.VJEPA(tiny_backbone(), predictor_num_layers=1, predictor_hidden_dim=8,
                     ema_momentum=(0.9, 1.0), ema_steps=10,
                     masks=[{"num_blocks": 1, "spatial_scale": 0.3}])
    assert isinstance(model.ema_teacher, kl.EMATeacher)
    assert model.ema_teacher.momentum == (0.9, 1.0)
    np.testing.assert_allclose(float(to_numpy(model.ema_momentum_at(5))), 0.95, rtol=1e-6)


@pytest.mark.parametrize("make", ["vjepa", "layerlock_mae", "mae_decoder"])
def test_every_variable_of_a_model_has_its_own_path(make):
    """Equal paths (the EMA teacher's copy of the backbone had the online
    backbone's) make PyTorch register one variable of each pair: the online
    encoder fell out of `model.parameters()`, `zero_grad` skipped it and its
    gradients summed over every step, which is what made the tiny V-JEPA
    "collapse" on PyTorch."""
    if make == "vjepa":
        model = kl.VJEPA(tiny_backbone(), predictor_num_layers=1, predictor_hidden_dim=8,
                         masks=[{"num_blocks": 1, "spatial_scale": 0.3}])
    else:
        keras.utils.set_random_seed(0)
        backbone = kl.VideoViTBackbone(hidden_dim=16, num_layers=3, num_heads=2,
                                       intermediate_dim=32, patch_size=(2, 8, 8),
                                       num_frames=4, image_size=16)
        decoder = {"decoder": "mae"} if make == "mae_decoder" else {"num_decoder_layers": 1}
        model = kl.LayerLockMAE(backbone, **decoder)
    paths = [v.path for v in model.weights]
    duplicated = sorted({p for p in paths if paths.count(p) > 1})
    assert not duplicated, duplicated[:5]
    if keras.backend.backend() == "torch":
        registered = {id(p) for p in model.parameters()}
        missing = [v.path for v in model.weights if id(v.value) not in registered]
        assert not missing, missing[:5]


@keras.saving.register_keras_serializable(package="keras_layerlock_tests")
class LearningRateFrom(keras.optimizers.schedules.LearningRateSchedule):
    """0 before step `start`, `value` from it on."""

    def __init__(self, start, value):
        self.start, self.value = start, value

    def __call__(self, step):
        return keras.ops.where(keras.ops.greater_equal(step, self.start), self.value, 0.0)

    def get_config(self):
        return {"start": self.start, "value": self.value}


def test_vjepa_applies_each_step_its_own_gradient():
    """What `fit` applies at a step is that step's gradient, not its sum with
    the earlier steps' (PyTorch summed them while the online encoder's
    gradients were never zeroed)."""
    x = clips(4)

    def update_of_first_moving_step(start):
        model = kl.VJEPA(tiny_backbone(), predictor_num_layers=1, predictor_hidden_dim=8,
                         masks=[{"num_blocks": 1, "spatial_scale": 0.3}], seed=2)
        # One fixed draw of the masks: before `start` the weights do not move,
        # so every step sees the same weights, clips and masks.
        draw = model.maskings[0].sample(4, model.backbone.grid_shape(x.shape))
        model.maskings[0].sample = lambda batch_size, grid: draw
        model.compile(optimizer=keras.optimizers.SGD(LearningRateFrom(start, 1e-2)))
        kernel = model.backbone.transformer_layers[0].weights[0]
        before = to_numpy(kernel).copy()
        model.fit(x, batch_size=4, epochs=start + 1, shuffle=False, verbose=0)
        return to_numpy(kernel) - before, to_numpy(draw[0])

    first, draw_a = update_of_first_moving_step(0)
    third, draw_b = update_of_first_moving_step(2)
    np.testing.assert_array_equal(draw_a, draw_b)
    assert np.abs(first).max() > 0
    np.testing.assert_allclose(third, first, rtol=1e-4, atol=1e-8)


def small_mae(seed=11):
    keras.utils.set_random_seed(seed)
    backbone = kl.VideoViTBackbone(
        hidden_dim=16, num_layers=4, num_heads=2, intermediate_dim=32,
        patch_size=(2, 8, 8), num_frames=4, image_size=16,
    )
    return kl.LayerLockMAE(backbone, num_decoder_layers=2, mask_ratio=0.75, seed=1)


def clips(n=16):
    return np.random.default_rng(0).random((n, 4, 16, 16, 3), dtype="float32")


class AverageRecorder(keras.callbacks.Callback):
    """Copies the optimizer's moving average of block 1's first kernel
    before every batch (one `fit`: Keras 3.15 on JAX cannot fit a
    `use_ema=True` model twice, LayerLock or not)."""

    def __init__(self):
        super().__init__()
        self.values = []

    def on_train_batch_begin(self, batch, logs=None):
        kernel = self.model.backbone.transformer_layers[0].weights[0]
        average = [v for v in self.model.optimizer.variables
                   if v.path.endswith(kernel.path.replace("/", "_") + "_average")]
        assert len(average) == 1, [v.path for v in self.model.optimizer.variables][:5]
        self.values.append(to_numpy(average[0]).copy())


def test_optimizer_ema_survives_freezing_events():
    """`use_ema=True` crashed at the first event (averages paired by position)."""
    model = small_mae()
    model.compile(keras.optimizers.AdamW(1e-3, use_ema=True, ema_momentum=0.9))
    schedule = kl.LayerLockSchedule(2, 2, target_layers=[1, 2])
    recorder = AverageRecorder()
    callback = kl.LayerLockCallback(schedule, rewarmup_steps=0, verbose=0)
    model.fit(clips(8), batch_size=4, epochs=3, callbacks=[callback, recorder], verbose=0)
    assert model.num_frozen_layers == 2
    # Block 1 freezes before step 2: its moving average moved until then, never after.
    assert not np.array_equal(recorder.values[1], recorder.values[2])
    for later in recorder.values[3:]:
        np.testing.assert_array_equal(later, recorder.values[2])
    for variable in model.trainable_variables:
        assert np.all(np.isfinite(to_numpy(variable)))


def test_gradient_accumulation_schedules_in_optimizer_updates():
    """With `gradient_accumulation_steps=2` the schedule counts updates, and
    a second `fit` resumes the schedule (it raised 'never unfreezes')."""
    model = small_mae()
    model.compile(keras.optimizers.AdamW(1e-3, gradient_accumulation_steps=2))
    schedule = kl.LayerLockSchedule(2, 2, target_layers=[1, 2])
    callback = kl.LayerLockCallback(schedule, rewarmup_steps=0, verbose=0)
    # 4 batches = 2 updates: the first event happens at update 2, i.e.
    # before the fifth batch, not before the third.
    model.fit(clips(16), batch_size=4, epochs=1, callbacks=[callback], verbose=0)
    assert model.num_frozen_layers == 0
    assert int(to_numpy(model.optimizer.iterations)) == 2
    model.fit(clips(16), batch_size=4, epochs=1, callbacks=[callback], verbose=0)
    assert [e["step"] for e in callback.events] == [2]
    assert model.num_frozen_layers == 1
    model.fit(clips(16), batch_size=4, epochs=1, callbacks=[callback], verbose=0)
    assert model.num_frozen_layers == 2 and [e["step"] for e in callback.events] == [2, 4]


def test_tensorboard_logs_a_layerlock_run(tmp_path):
    """TensorFlow 2.21 no longer brings `tensorboard`; it is a declared
    dependency, and Keras' TensorBoard callback logs a LayerLock run."""
    model = small_mae()
    model.compile(keras.optimizers.AdamW(1e-3))
    callbacks = [kl.LayerLockCallback(kl.LayerLockSchedule(1, 1, target_layers=[1]),
                                      rewarmup_steps=0, verbose=0),
                 keras.callbacks.TensorBoard(log_dir=str(tmp_path), update_freq=1)]
    model.fit(clips(8), batch_size=4, epochs=1, callbacks=callbacks, verbose=0)
    events = [f for _, _, files in os.walk(tmp_path) for f in files if "tfevents" in f]
    assert events, "no TensorBoard event file written"


def test_progress_bar_prints_layerlock_state_as_integers(capsys):
    """Keras printed `num_frozen_layers: 0.0000e+00` and `target_layer: 1.0000`."""
    model = kl.LayerLockMAE(tiny_backbone(), num_decoder_layers=1, seed=0)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    schedule = kl.LayerLockSchedule(2, 1, num_layers_per_freeze=1, target_layers=[1])
    videos = np.random.default_rng(0).random((8, 4, 16, 16, 3)).astype("float32")
    model.fit(videos, batch_size=4, epochs=2, verbose=2,
              callbacks=[kl.LayerLockCallback(schedule, verbose=0)])
    out = capsys.readouterr().out
    assert "num_frozen_layers: 0 " in out or "num_frozen_layers: 0\n" in out, out
    assert "num_frozen_layers: 1" in out and "target_layer: 1" in out, out
    assert "num_frozen_layers: 1.0000" not in out and "e+00" not in out, out
    assert "loss: " in out  # the other logs are unchanged


def test_deprecated_frozen_depth_still_loads():
    backbone = tiny_backbone()
    with pytest.warns(DeprecationWarning, match="num_frozen_layers"):
        model = kl.LayerLockMAE(backbone, num_decoder_layers=1, frozen_depth=1)
    assert model.num_frozen_layers == 1
    with pytest.warns(DeprecationWarning):
        assert model.frozen_depth == 1
    config = model.get_config()
    assert "frozen_depth" not in config and config["num_frozen_layers"] == 1
    config["frozen_depth"] = config.pop("num_frozen_layers")  # a 0.1 config
    with pytest.warns(DeprecationWarning):
        assert kl.LayerLockMAE.from_config(config).num_frozen_layers == 1
    with pytest.raises(ValueError, match="both `num_frozen_layers` and"):
        kl.LayerLockMAE(tiny_backbone(), num_decoder_layers=1, num_frozen_layers=1,
                        frozen_depth=2)
    schedule = kl.LayerLockSchedule(2, 1, num_layers_per_freeze=1, target_layers=[1])
    with pytest.warns(DeprecationWarning):
        assert schedule.frozen_depth_after(1) == schedule.num_frozen_layers_after(1) == 1
