import keras
from keras import ops

from keras_layerlock.utils.keras_internals import copy_variable_value


@keras.saving.register_keras_serializable(package="keras_layerlock")
class EMATeacher(keras.layers.Layer):
    """Exponential moving average of an online network: the teacher of
    V-JEPA, BYOL and the methods built on them.

    The teacher networks themselves stay attributes of the model that owns
    them (so their weights keep readable paths such as `target_encoder/...`);
    this layer holds the momentum schedule and its own step counter (saved
    with the weights) and performs the update on `(online, teacher)` layer
    pairs. `update` runs inside the compiled training step on every backend.

    The momentum goes linearly from `momentum[0]` to `momentum[1]` over
    `num_steps` updates (V-JEPA: 0.998 -> 1.0 over the run).

    Args:
        momentum: float, or `(start, end)` in [0, 1]; defaults to
            `(0.998, 1.0)`.
        num_steps: int >= 1 or None. Length of the momentum ramp; None keeps
            the start value.
        **kwargs: `name`, `dtype`.

    Example:
    ```python
    ema = keras_layerlock.EMATeacher(momentum=(0.996, 1.0), num_steps=1000)
    teacher = keras_layerlock.EMATeacher.copy_of(backbone, "target_encoder")
    ema.update([(backbone, teacher)])     # inside a training step
    ```
    """

    def __init__(self, momentum=(0.998, 1.0), num_steps=None, **kwargs):
        kwargs.setdefault("name", "ema_teacher")
        super().__init__(**kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float, tuple, list)):
            raise ValueError(
                "`momentum` must be a float or (start, end) in [0, 1]; "
                f"received {momentum!r}."
            )
        pair = (momentum, momentum) if isinstance(momentum, (int, float)) else tuple(momentum)
        if len(pair) != 2 or not all(
            isinstance(m, (int, float)) and not isinstance(m, bool) and 0.0 <= m <= 1.0
            for m in pair
        ):
            raise ValueError(
                "`momentum` must be a float or (start, end) in [0, 1]; "
                f"received {momentum!r}."
            )
        if num_steps is not None and (
            isinstance(num_steps, bool) or not float(num_steps).is_integer() or num_steps < 1
        ):
            raise ValueError(
                f"`num_steps` must be None or an integer >= 1; received {num_steps!r}."
            )
        self.momentum = tuple(float(m) for m in pair)
        self.num_steps = None if num_steps is None else int(num_steps)
        self.step = self.add_weight(name="step", shape=(), initializer="zeros", trainable=False)
        self.built = True

    @staticmethod
    def copy_of(layer, name):
        """A non-trainable copy of `layer` (same config, same weights).

        The copy is built under the name scope `name`, so that its variable
        paths (`name/transformer_layer_0/...`) differ from the online
        layer's. With equal paths, PyTorch's module registers only one of
        each pair (Keras keys a model's torch parameters by path): the
        online weights dropped out of `model.parameters()`, `zero_grad`
        skipped them, and their gradients summed over every step.
        """
        config = layer.get_config()
        config["name"] = name
        with keras.name_scope(name):
            teacher = layer.__class__.from_config(config)
            build_config = layer.get_build_config()
            if not teacher.built and build_config:
                teacher.build_from_config(build_config)
        teacher.set_weights(layer.get_weights())
        teacher.trainable = False
        return teacher

    def momentum_at(self, step):
        """The momentum used at update `step` (tensor or int)."""
        start, end = self.momentum
        if self.num_steps is None or start == end:
            return ops.convert_to_tensor(start, "float32")
        progress = ops.minimum(ops.cast(step, "float32") / float(self.num_steps), 1.0)
        return start + (end - start) * progress

    def update(self, pairs):
        """`teacher <- m * teacher + (1 - m) * online` for each layer pair,
        then advances the step counter."""
        momentum = self.momentum_at(self.step)
        for online, teacher in pairs:
            for source, target in zip(online.weights, teacher.weights):
                value = ops.stop_gradient(ops.convert_to_tensor(source))
                mixed = momentum * ops.cast(target, "float32") + (1.0 - momentum) * ops.cast(
                    value, "float32"
                )
                target.assign(ops.cast(mixed, target.dtype))
        self.step.assign(self.step + 1.0)

    @staticmethod
    def copy_weights(pairs):
        """Sets each teacher layer's weights to its online twin's exactly
        (LayerLock: a frozen block's teacher is the frozen block)."""
        for online, teacher in pairs:
            for source, target in zip(online.weights, teacher.weights):
                copy_variable_value(source, target)

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "num_steps": self.num_steps})
        return config
