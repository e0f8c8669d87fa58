import keras

from keras_layerlock.utils.argument_validation import require_integer

NORMALIZATIONS = ("batch", "layer", None)


@keras.saving.register_keras_serializable(package="keras_layerlock")
class MLPHead(keras.layers.Layer):
    """The projector / predictor / expander MLP of joint-embedding methods.

    An optional plain linear layer (`input_units`), then one block per
    entry of `hidden_units` (linear, normalisation, ReLU), then an optional
    plain linear output layer (`output_units`, normalised too with
    `output_normalization`). The heads of the methods here:

    - ViC-MAE's projector (Bardes et al.'s, as its supplement describes):
      `MLPHead([2 D, 2 D], input_units=2 D)`.
    - SimSiam's projector `MLPHead([P, P], output_units=P,
      output_normalization=True)` and predictor `MLPHead([P // 4],
      output_units=P)`.
    - VICReg's expander `MLPHead([E, E], output_units=E)`.

    Args:
        hidden_units: list of ints, the widths of the normalised blocks.
        output_units: int or None. A final plain linear layer.
        input_units: int or None. A first plain linear layer.
        normalization: `"batch"` (BatchNorm, the methods' default),
            `"layer"` (LayerNorm) or None.
        output_normalization: bool. Normalise the output layer's result
            (SimSiam's projector).
        **kwargs: base layer arguments.

    Example:
    ```python
    head = MLPHead([256, 256], input_units=256)
    z = head(keras.random.normal((8, 128)))  # (8, 256)
    ```
    """

    def __init__(self, hidden_units, output_units=None, input_units=None, normalization="batch",
                 output_normalization=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(hidden_units, (int, str)) or not isinstance(hidden_units, (list, tuple)):
            raise ValueError(f"`hidden_units` must be a list of ints; received {hidden_units!r}.")
        self.hidden_units = [require_integer(u, "hidden_units", minimum=1) for u in hidden_units]
        self.output_units = None if output_units is None else require_integer(
            output_units, "output_units", minimum=1)
        self.input_units = None if input_units is None else require_integer(
            input_units, "input_units", minimum=1)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"`normalization` must be one of {NORMALIZATIONS}; received "
                             f"{normalization!r}.")
        if not (self.hidden_units or self.output_units or self.input_units):
            raise ValueError("An MLPHead needs at least one layer: give `hidden_units`, "
                             "`output_units` or `input_units`.")
        self.normalization = normalization
        self.output_normalization = bool(output_normalization)
        policy = self.dtype_policy
        self.stack = []
        if self.input_units:
            self.stack.append(keras.layers.Dense(self.input_units, dtype=policy, name="input"))
        for i, units in enumerate(self.hidden_units):
            self.stack.append(keras.layers.Dense(units, dtype=policy, name=f"hidden_{i}"))
            if normalization:
                self.stack.append(self._norm(f"hidden_{i}_norm"))
            self.stack.append(keras.layers.ReLU(dtype=policy, name=f"hidden_{i}_relu"))
        if self.output_units:
            self.stack.append(keras.layers.Dense(self.output_units, dtype=policy, name="output"))
            if self.output_normalization and normalization:
                self.stack.append(self._norm("output_norm"))

    def _norm(self, name):
        if self.normalization == "batch":
            return keras.layers.BatchNormalization(dtype=self.dtype_policy, name=name)
        return keras.layers.LayerNormalization(dtype=self.dtype_policy, name=name)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.stack:
            layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.stack:
            if isinstance(layer, keras.layers.BatchNormalization):
                x = layer(x, training=training)
            else:
                x = layer(x)
        return x

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.stack:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    @property
    def output_dim(self):
        return self.output_units or (self.hidden_units[-1] if self.hidden_units else self.input_units)

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_units": self.hidden_units, "output_units": self.output_units,
                       "input_units": self.input_units, "normalization": self.normalization,
                       "output_normalization": self.output_normalization})
        return config
