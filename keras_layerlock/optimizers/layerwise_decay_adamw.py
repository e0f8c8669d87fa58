import keras
from keras import ops


def layerwise_learning_rate_multipliers(model, layer_decay, backbone=None):
    """Per-variable learning-rate multipliers for layer-wise decay (BEiT).

    Fine-tuning recipes of MAE / VideoMAE / ViC-MAE scale the learning rate
    of block `i` (1-based) of an `L`-block ViT by `layer_decay ** (L + 1 -
    i)`, the embeddings by `layer_decay ** (L + 1)`, and leave everything
    after the backbone (norms, readout, head) at 1.

    Args:
        model: the model being fine-tuned.
        layer_decay: float in (0, 1]; 0.65 for ViT-B, 0.75 for ViT-L.
        backbone: its `VideoViTBackbone`; defaults to `model.backbone`.

    Returns:
        `{variable.path: multiplier}` for every trainable variable of
        `model`.

    Example:
    ```python
    multipliers = layerwise_learning_rate_multipliers(classifier, 0.75)
    optimizer = LayerwiseDecayAdamW(1e-4, multipliers=multipliers)
    ```
    """
    if not 0.0 < float(layer_decay) <= 1.0:
        raise ValueError(f"`layer_decay` must be in (0, 1]; received {layer_decay}.")
    backbone = backbone if backbone is not None else getattr(model, "backbone", None)
    if backbone is None:
        raise ValueError("Pass the backbone: the model has no `backbone` attribute.")
    num_layers = backbone.num_layers
    depth_of = {}
    embeddings = [backbone.patch_embedding, backbone.position_embedding]
    for layer in embeddings:
        if layer is not None:
            for v in layer.weights:
                depth_of[id(v)] = 0
    for i, block in enumerate(backbone.transformer_layers):
        for v in block.weights:
            depth_of[id(v)] = i + 1
    return {
        v.path: float(layer_decay) ** (num_layers + 1 - depth_of.get(id(v), num_layers + 1))
        for v in model.trainable_variables
    }


@keras.saving.register_keras_serializable(package="keras_layerlock")
class LayerwiseDecayAdamW(keras.optimizers.AdamW):
    """AdamW with a learning-rate multiplier per variable.

    Used for fine-tuning with layer-wise learning-rate decay (see
    `layerwise_learning_rate_multipliers`). The multiplier scales both the
    Adam step and the decoupled weight decay of its variable, as a PyTorch
    parameter group with its own learning rate would. Variables not in
    `multipliers` use 1. (Being a subclass, it runs Keras' generic
    per-variable update, not the fused PyTorch AdamW path.)

    Args:
        learning_rate: float or schedule.
        multipliers: `{variable.path: float}`.
        **kwargs: `keras.optimizers.AdamW` arguments.

    Example:
    ```python
    optimizer = LayerwiseDecayAdamW(
        1e-4, multipliers=layerwise_learning_rate_multipliers(model, 0.75),
        weight_decay=0.05)
    model.compile(optimizer=optimizer)
    ```
    """

    def __init__(self, learning_rate=0.001, multipliers=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.multipliers = dict(multipliers or {})

    def build(self, variables):
        super().build(variables)
        # By slot index: TensorFlow hands `update_step` its raw variables,
        # which have no Keras path.
        self._multiplier_by_index = [self.multipliers.get(v.path, 1.0) for v in variables]

    def _multiplier(self, variable):
        return self._multiplier_by_index[self._get_variable_index(variable)]

    def update_step(self, gradient, variable, learning_rate):
        scale = self._multiplier(variable)
        if scale != 1.0:
            learning_rate = ops.multiply(ops.cast(learning_rate, variable.dtype), scale)
        super().update_step(gradient, variable, learning_rate)

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None:
            return
        for variable in variables:
            if self._use_weight_decay(variable):
                lr = ops.cast(self.learning_rate, variable.dtype) * self._multiplier(variable)
                wd = ops.cast(self.weight_decay, variable.dtype)
                variable.assign(variable - variable * wd * lr)

    def get_config(self):
        config = super().get_config()
        config["multipliers"] = dict(self.multipliers)
        return config
