import keras

from keras_layerlock.layers.mlp_head import MLPHead
from keras_layerlock.losses.vicreg import vicreg_loss
from keras_layerlock.models.vic_mae.mae_sim_siam import _require_class_token
from keras_layerlock.models.vic_mae.two_view_mae import TwoViewMAE
from keras_layerlock.utils.l2_normalize import l2_normalize


@keras.saving.register_keras_serializable(package="keras_layerlock")
class MAEVICReg(TwoViewMAE):
    """MAE + VICReg: ViC-MAE's baseline with VICReg's global loss.

    The supplement of ViC-MAE (Hernandez et al., 2024), section B: each
    view's class token goes through a shared expander (VICReg: Bardes,
    Ponce and LeCun, 2022: two blocks of linear + BatchNorm + ReLU and a
    linear layer) and VICReg's invariance, variance (gamma = 1) and
    covariance terms compare the two batches, with VICReg's weights
    (25, 25, 1). The supplement normalises the embeddings before VICReg's
    terms; a variance hinge at gamma = 1 cannot be met by unit vectors of
    more than one dimension, so the embeddings enter unnormalised, as in
    VICReg (`normalize_embeddings=True` gives the supplement's form). The
    backbone must be built with `use_class_token=True`; the default lambda
    is ViC-MAE's (0.025; the supplement gives none).

    Args:
        backbone: a `VideoViTBackbone` with `use_class_token=True`.
        expander_dim: int. Defaults to four times the backbone's width.
        invariance_weight, variance_weight, covariance_weight: floats;
            defaults 25, 25, 1.
        normalize_embeddings: bool; defaults to False.
        **kwargs: `TwoViewMAE` and `LayerLockMAE` arguments.

    Example:
    ```python
    backbone = keras_layerlock.VideoViTBackbone.from_preset(
        "video_vit_micro", use_class_token=True)
    model = keras_layerlock.MAEVICReg(backbone, seed=0)
    model.compile(optimizer="adamw")
    ```
    """

    global_loss_name = "vicreg_loss"

    def __init__(self, backbone, expander_dim=None, invariance_weight=25.0, variance_weight=25.0,
                 covariance_weight=1.0, normalize_embeddings=False, **kwargs):
        kwargs.setdefault("name", "mae_vic_reg")
        super().__init__(backbone, **kwargs)
        _require_class_token(self.backbone, "MAEVICReg")
        width = self.backbone.hidden_dim
        self.expander_dim = int(expander_dim or 4 * width)
        self.invariance_weight = float(invariance_weight)
        self.variance_weight = float(variance_weight)
        self.covariance_weight = float(covariance_weight)
        self.normalize_embeddings = bool(normalize_embeddings)
        self.expander = MLPHead([self.expander_dim] * 2, output_units=self.expander_dim,
                                dtype=self.dtype_policy, name="expander")
        self.expander.build((None, width))

    def global_outputs(self, first_encoded, second_encoded, training):
        outputs = {}
        for name, encoded in (("first", first_encoded), ("second", second_encoded)):
            embedding = self.expander(encoded[:, 0], training=training)
            if self.normalize_embeddings:
                embedding = l2_normalize(embedding)
            outputs[f"{name}_embedding"] = embedding
        return outputs

    def global_loss(self, outputs):
        total, _ = vicreg_loss(outputs["first_embedding"], outputs["second_embedding"],
                               self.invariance_weight, self.variance_weight, self.covariance_weight)
        return total

    def get_config(self):
        config = super().get_config()
        config.update({"expander_dim": self.expander_dim,
                       "invariance_weight": self.invariance_weight,
                       "variance_weight": self.variance_weight,
                       "covariance_weight": self.covariance_weight,
                       "normalize_embeddings": self.normalize_embeddings})
        return config
