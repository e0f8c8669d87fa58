import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_layerlock")
class LARS(keras.optimizers.Optimizer):
    """LARS: SGD with momentum and a layer-wise trust ratio.

    You, Gitman and Ginsburg, "Large Batch Training of Convolutional
    Networks" (2017), in the form BYOL, SimCLR and MSBReg train with: for
    every adapted variable `w` with gradient `g`,

        g <- g + weight_decay * w
        g <- g * trust_coefficient * ||w|| / ||g||   (1 if either norm is 0)

    and for all variables `v <- momentum * v + g`, `w <- w - lr * v`
    (`w <- w - lr * (momentum * v + g)` with `nesterov`). Variables of rank
    <= 1 (biases, BatchNorm / LayerNorm scales and offsets) are excluded
    from both the weight decay and the trust ratio, as in those papers;
    `exclude_from_adaptation` adds variables by name. Keras has no LARS.

    Args:
        learning_rate: float or schedule (e.g. `CosineDecay` with
            `warmup_steps`; MSBReg: max lr = base_lr x batch / 256 x K).
        momentum: float; defaults to 0.9.
        weight_decay: float; defaults to 1e-5 (MSBReg's supplement).
        trust_coefficient: float, eta; defaults to 1e-3.
        nesterov: bool.
        exclude_from_adaptation: list of substrings of variable paths that
            are excluded besides those of rank <= 1.
        **kwargs: base optimizer arguments (`clipnorm`, `name`, ...; not
            Keras' decoupled `weight_decay`, which LARS replaces).

    Example:
    ```python
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, 1000, warmup_target=0.3 * 256 / 256, warmup_steps=100)
    model.compile(optimizer=LARS(schedule, weight_decay=1e-5))
    ```
    """

    def __init__(self, learning_rate=0.1, momentum=0.9, weight_decay=1e-5,
                 trust_coefficient=1e-3, nesterov=False, exclude_from_adaptation=None,
                 name="lars", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for label, value in (("momentum", momentum), ("weight_decay", weight_decay),
                             ("trust_coefficient", trust_coefficient)):
            if isinstance(value, bool) or not float(value) >= 0.0:
                raise ValueError(f"`{label}` must be a float >= 0; received {value!r}.")
        if not float(momentum) < 1.0:
            raise ValueError(f"`momentum` must be below 1; received {momentum!r}.")
        self.momentum = float(momentum)
        self.lars_weight_decay = float(weight_decay)
        self.trust_coefficient = float(trust_coefficient)
        self.nesterov = bool(nesterov)
        self.exclude_from_adaptation = list(exclude_from_adaptation or [])

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = [self.add_variable_from_reference(v, "momentum") for v in variables]

    def is_adapted(self, variable):
        """Whether `variable` gets weight decay and the trust ratio."""
        if len(variable.shape) <= 1:
            return False
        # TensorFlow hands its own variables to `update_step`: `name` there.
        path = getattr(variable, "path", None) or variable.name
        return not any(part in path for part in self.exclude_from_adaptation)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        if self.is_adapted(variable):
            w = ops.convert_to_tensor(variable)
            g = g + self.lars_weight_decay * w
            w_norm = ops.sqrt(ops.sum(ops.square(w)))
            g_norm = ops.sqrt(ops.sum(ops.square(g)))
            usable = ops.logical_and(w_norm > 0, g_norm > 0)
            trust = ops.where(usable, self.trust_coefficient * w_norm
                              / ops.where(usable, g_norm, 1.0), 1.0)
            g = g * trust
        m = self.momentums[self._get_variable_index(variable)]
        self.assign(m, self.momentum * m + g)
        step = self.momentum * m + g if self.nesterov else m
        self.assign_sub(variable, lr * step)

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "weight_decay": self.lars_weight_decay,
                       "trust_coefficient": self.trust_coefficient, "nesterov": self.nesterov,
                       "exclude_from_adaptation": self.exclude_from_adaptation})
        return config
