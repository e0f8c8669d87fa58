"""Every private Keras API and every backend-specific line of the library.

LayerLock changes which variables train in the middle of `fit`. Keras has no
public API for narrowing a built optimizer, so this module reaches into
Keras internals; nothing else in the package may. `tests/test_keras_internals.py`
checks each internal used here and fails loudly (naming the attribute) when
a Keras release changes one. Supported versions: `SUPPORTED_KERAS` (the
upper bound in `setup.cfg`).

What is used, and why:

- `keras.src.utils.tracking.DotNotTrackScope`: assigning lists of model
  variables to an optimizer attribute outside Keras' tracking, as
  `BaseOptimizer.build` itself does (else the optimizer would adopt the
  model's variables as its own).
- `optimizer._var_key`, `optimizer._trainable_variables` and
  `optimizer._trainable_variables_indices`: how a built optimizer maps a
  variable to its slots; narrowing them keeps the slots' moments.
- `optimizer._learning_rate`: the schedule object itself
  (`optimizer.learning_rate` returns its current value).
- `optimizer._iterations`: batches seen; the public `iterations` counts
  updates, which differ under gradient accumulation.
- `optimizer._model_variables_moving_average` (`use_ema=True`): Keras pairs
  it with `_trainable_variables` by position, so it is narrowed with them.
- `callback._model`: the model without the JAX trainer's state sync that
  `callback.model` performs on every access (a sync per batch would cost a
  host copy of every variable).
- `keras_hub.src.utils.preset_utils.BUILTIN_PRESETS` and
  `BUILTIN_PRESETS_FOR_BACKBONE` (through `register_presets`, which
  keras-hub's own models call): keras-hub has no public way to add a named
  preset, and without it `keras_hub.models.Backbone.from_preset(name)` does
  not know the library's trained presets.
- `ProgbarLogger._maybe_init_progbar` and `Progbar._values`: Keras prints
  every log as a float and has no public hook for the format; LayerLock's
  integer state (`num_frozen_layers`, `target_layer`) is printed as ints.
- `keras_hub.src.utils.preset_utils.get_preset_loader` (`load_task_preset`):
  keras-hub's `Task.from_preset` looks for a task subclass made for the
  preset's backbone class, and refuses a task such as `MSBReg` whose
  preset holds another keras-hub backbone (a `ResNetBackbone`).
- `keras.src.models.functional.Functional` and `keras.src.ops.function.Function`
  (`SubclassedModelType`): building any functional keras-hub model (a
  `ResNetBackbone`, an `ImageClassifier`) makes Keras rewrite the
  `__bases__` of the keras-hub classes above it (`Backbone`, `Task`) to
  derive from `Functional`; every subclassed model built on them in the
  same process would then fail in `Functional.__init__`.

Backend-specific choices (not private APIs, but backend branches, which
also live only here):

- `has_fused_attention()`: whether `keras.ops.dot_product_attention` runs a
  fused kernel (PyTorch's `scaled_dot_product_attention`; JAX on GPU or
  TPU). Elsewhere (TensorFlow, JAX on CPU) it composes the same matmuls
  and softmax as `TransformerBlock` does itself, but in a
  `(batch, tokens, heads, logits)` layout whose transposes of the score
  tensor cost more than the matmuls (config M of
  `tools/benchmark_peers.py`: the TensorFlow step 26 % and the JAX step
  10 % faster with the block's own composition).
- `configure_xla_cpu()`: run on `import keras_layerlock`. XLA's CPU
  compiler in jaxlib 0.10 hands dots and the elementwise work around them
  to YNNPACK fusions, which made the video MAE's JAX training step 1.9x
  slower on the development CPU (config M: 2,031 against 1,052 ms/step);
  the flag is set off unless the user's `XLA_FLAGS` already names it.
"""

import os

import keras
from keras import ops

YNN_FUSION_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
# jaxlib releases whose XLA knows the flag and was measured with it off
# (XLA aborts on an unknown flag, so it is only set for these).
YNN_FLAG_JAXLIB_VERSIONS = ((0, 10),)

SUPPORTED_KERAS = (">=3.15", "<3.16")

PRIVATE_OPTIMIZER_ATTRIBUTES = ("_var_key", "_trainable_variables", "_trainable_variables_indices",
                                "_learning_rate", "_iterations", "_model_variables_moving_average")


class SubclassedModelType(type):
    """Metaclass of the library's subclassed keras-hub models: keeps
    Keras' `Functional` out of their method resolution order.

    Keras' `Model.__init__`, given functional arguments, injects
    `Functional` into the bases of every class between the model built and
    `keras.Model` (`inject_functional_model_class`); for keras-hub's
    functional backbones and tasks, that is keras-hub's shared `Backbone` /
    `Task`. Python then recomputes the order of every subclass, ours
    included, through this `mro`, which leaves the two functional classes
    out: a `VideoViTBackbone` or a pretraining model built after a
    `ResNetBackbone` is the same subclassed model as before it.
    """

    def mro(cls):
        from keras.src.models.functional import Functional
        from keras.src.ops.function import Function

        return [c for c in super().mro() if c not in (Functional, Function)]


def load_task_preset(cls, preset, load_weights, load_task_weights, **kwargs):
    """keras-hub's `Task.from_preset` for `cls` itself, whatever backbone
    class the preset holds (its own `task.json` still picks the subclass)."""
    from keras_hub.src.utils.preset_utils import get_preset_loader

    return get_preset_loader(preset).load_task(cls, load_weights, load_task_weights, **kwargs)


def register_keras_hub_preset(name, handle, metadata, backbone_cls):
    """Makes `keras_hub.models.Backbone.from_preset(name)` load `handle`."""
    from keras_hub.src.utils.preset_utils import register_presets

    register_presets({name: {"metadata": dict(metadata), "kaggle_handle": handle}}, backbone_cls)


def unregister_keras_hub_preset(name, backbone_cls):
    """Undoes `register_keras_hub_preset` (nothing if `name` is not there)."""
    from keras_hub.src.utils import preset_utils

    preset_utils.BUILTIN_PRESETS.pop(name, None)
    preset_utils.BUILTIN_PRESETS_FOR_BACKBONE.get(backbone_cls, {}).pop(name, None)


def _dot_not_track_scope():
    from keras.src.utils.tracking import DotNotTrackScope

    return DotNotTrackScope()


def optimizer_variable_key(optimizer, variable):
    """The key a built optimizer indexes `variable`'s slots by."""
    return optimizer._var_key(variable)


def optimizer_variable_indices(optimizer):
    """`{variable key: slot index}` of a built optimizer."""
    return optimizer._trainable_variables_indices


def set_optimizer_trainable_variables(optimizer, variables, indices):
    """Makes a built optimizer update only `variables` (slot `indices`)."""
    with _dot_not_track_scope():
        optimizer._trainable_variables = list(variables)
        optimizer._trainable_variables_indices = dict(indices)
    restrict_moving_averages(optimizer, variables, indices)


def optimizer_learning_rate_object(optimizer):
    """The optimizer's learning rate as given (a schedule or a variable)."""
    return getattr(optimizer, "_learning_rate", None)


def callback_model(callback):
    """`callback.model` without the JAX state sync it triggers."""
    return callback._model


def copy_variable_value(source, target):
    """`target <- source`, as a copy: JAX would otherwise share (and donate
    twice) one buffer between the two variables."""
    target.assign(ops.copy(source.value))


def hyperparameter_change_needs_retrace():
    """Whether a Python-side optimizer hyperparameter change (e.g. weight
    decay) needs the train function rebuilt: the compiled JAX and
    TensorFlow steps captured the old value; eager PyTorch reads it anew."""
    return keras.backend.backend() != "torch"


def optimizer_batch_count(optimizer):
    """Batches the optimizer has seen (`optimizer.iterations` counts updates:
    with gradient accumulation over `k` batches it is this count // k)."""
    return int(ops.convert_to_numpy(optimizer._iterations))


def accumulation_steps(optimizer):
    """Batches per optimizer update (1 without gradient accumulation)."""
    return int(getattr(optimizer, "gradient_accumulation_steps", None) or 1)


def restrict_moving_averages(optimizer, variables, indices):
    """Keeps an optimizer's EMA slots (`use_ema=True`) paired with the
    variables it updates. Keras zips `_trainable_variables` with
    `_model_variables_moving_average` by position, so a narrowed variable
    list needs the matching sub-list of averages; the full list is kept
    (in `optimizer.variables`, for checkpoints) and recorded once."""
    if not getattr(optimizer, "use_ema", False):
        return
    if not hasattr(optimizer, "_layerlock_all_moving_averages"):
        optimizer._layerlock_all_moving_averages = list(optimizer._model_variables_moving_average)
    averages = optimizer._layerlock_all_moving_averages
    with _dot_not_track_scope():
        optimizer._model_variables_moving_average = [
            averages[indices[optimizer_variable_key(optimizer, v)]] for v in variables
        ]


class _IntegerFloat(float):
    """A float that formats as the nearest int whatever the format spec."""

    def __truediv__(self, other):
        return _IntegerFloat(float(self) / other)

    def __format__(self, spec):
        return str(int(round(float(self))))


class _IntegerValues(dict):
    """`Progbar._values` that prints the named entries as ints.

    `Progbar` keeps `[sum, count]` per log and prints `sum / count` with
    `.4f` or `.4e`; the named entries keep their value as an
    `_IntegerFloat`, so both of its display modes print `2`, not `2.0000`.
    """

    def __init__(self, integer_keys):
        super().__init__()
        self.integer_keys = frozenset(integer_keys)

    def __setitem__(self, key, value):
        if key in self.integer_keys and isinstance(value, list):
            value = [_IntegerFloat(float(value[0]) / max(1, value[1])), 1]
        super().__setitem__(key, value)


class ProgbarLoggerWithIntegerLogs(keras.callbacks.ProgbarLogger):
    """`ProgbarLogger` whose bar prints the logs `self.integer_logs` as ints.

    The private part of `keras_layerlock.callbacks.IntegerLogsProgbarLogger`:
    it hooks the bar's creation and replaces its private `_values` store.
    """

    integer_logs = ()

    def _maybe_init_progbar(self):
        had_progbar = self.progbar is not None
        super()._maybe_init_progbar()
        if not had_progbar:
            values = _IntegerValues(self.integer_logs)
            values.update(self.progbar._values)
            self.progbar._values = values


def process_index_and_count():
    """This process's index and the process count of a multi-process
    `keras.distribution` run: JAX's, after `keras.distribution.initialize`
    (the only backend Keras runs multi-process); `(0, 1)` elsewhere."""
    if keras.backend.backend() != "jax":
        return 0, 1
    import jax

    return int(jax.process_index()), int(jax.process_count())


def has_fused_attention():
    """Whether `keras.ops.dot_product_attention` has a fused kernel here:
    PyTorch (`scaled_dot_product_attention`, flash attention on CPU too),
    and JAX on a GPU or TPU (cuDNN / Splash). TensorFlow and JAX on CPU
    compose unfused ops, which `TransformerBlock` does faster itself."""
    backend = keras.backend.backend()
    if backend == "torch":
        return True
    if backend == "jax":
        import jax

        return jax.devices()[0].platform != "cpu"
    return False


def configure_xla_cpu(environ=None):
    """Turns XLA's CPU YNNPACK fusions off for JAX, before JAX starts.

    Sets `YNN_FUSION_FLAG=` (no fusion kinds) in `XLA_FLAGS` when the backend
    is JAX, the installed jaxlib is one of `YNN_FLAG_JAXLIB_VERSIONS` and
    the user's `XLA_FLAGS` does not already set the flag (theirs wins). It
    acts only if JAX has not yet created its CPU client (XLA reads the
    variable then); child processes inherit it. Only XLA's CPU compiler
    reads the flag.

    Returns:
        bool: whether the flag was added.
    """
    environ = os.environ if environ is None else environ
    flags = environ.get("XLA_FLAGS", "")
    if keras.backend.backend() != "jax" or YNN_FUSION_FLAG in flags:
        return False
    try:
        import jaxlib

        version = tuple(int(p) for p in jaxlib.__version__.split(".")[:2])
    except (ImportError, ValueError):
        return False
    if version not in YNN_FLAG_JAXLIB_VERSIONS:
        return False
    environ["XLA_FLAGS"] = f"{flags} {YNN_FUSION_FLAG}=".strip()
    return True
