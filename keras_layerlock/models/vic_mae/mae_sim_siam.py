import keras

from keras_layerlock.layers.mlp_head import MLPHead
from keras_layerlock.losses.negative_cosine import negative_cosine_loss
from keras_layerlock.models.vic_mae.two_view_mae import TwoViewMAE


@keras.saving.register_keras_serializable(package="keras_layerlock")
class MAESimSiam(TwoViewMAE):
    """MAE + SimSiam: ViC-MAE's baseline with a negative-free global loss.

    The supplement of ViC-MAE (Hernandez et al., 2024), section B: the
    class token's output is each view's global representation; the online
    branch is the backbone, a projector and a predictor, the target branch
    the same backbone and projector under a stop-gradient (SimSiam: Chen
    and He, 2021), and the loss is `2 (1 - p . z)` on L2-normalised
    vectors, averaged over both directions. The backbone must be built with
    `use_class_token=True`.

    The supplement does not give the weight of this term; the default is
    ViC-MAE's lambda (0.025), with the same `global_loss_start_step`.

    Args:
        backbone: a `VideoViTBackbone` with `use_class_token=True`.
        projection_dim: int. Projector width; defaults to twice the
            backbone's.
        predictor_hidden_dim: int. Defaults to `projection_dim // 4`
            (SimSiam's bottleneck).
        **kwargs: `TwoViewMAE` and `LayerLockMAE` arguments.

    Example:
    ```python
    backbone = keras_layerlock.VideoViTBackbone.from_preset(
        "video_vit_micro", use_class_token=True)
    model = keras_layerlock.MAESimSiam(backbone, seed=0)
    model.compile(optimizer="adamw")
    ```
    """

    global_loss_name = "simsiam_loss"
    global_embedding_key = "first_projection"

    def __init__(self, backbone, projection_dim=None, predictor_hidden_dim=None, **kwargs):
        kwargs.setdefault("name", "mae_sim_siam")
        super().__init__(backbone, **kwargs)
        _require_class_token(self.backbone, "MAESimSiam")
        width = self.backbone.hidden_dim
        self.projection_dim = int(projection_dim or 2 * width)
        self.predictor_hidden_dim = int(predictor_hidden_dim or max(self.projection_dim // 4, 1))
        policy = self.dtype_policy
        self.projector = MLPHead([self.projection_dim] * 2, output_units=self.projection_dim,
                                 output_normalization=True, dtype=policy, name="projector")
        self.predictor_head = MLPHead([self.predictor_hidden_dim], output_units=self.projection_dim,
                                      dtype=policy, name="predictor_head")
        self.projector.build((None, width))
        self.predictor_head.build((None, self.projection_dim))

    def global_outputs(self, first_encoded, second_encoded, training):
        outputs = {}
        for name, encoded in (("first", first_encoded), ("second", second_encoded)):
            projected = self.projector(encoded[:, 0], training=training)
            outputs[f"{name}_projection"] = projected
            outputs[f"{name}_prediction"] = self.predictor_head(projected, training=training)
        return outputs

    def global_loss(self, outputs):
        return 0.5 * (negative_cosine_loss(outputs["first_prediction"], outputs["second_projection"])
                      + negative_cosine_loss(outputs["second_prediction"], outputs["first_projection"]))

    def get_config(self):
        config = super().get_config()
        config.update({"projection_dim": self.projection_dim,
                       "predictor_hidden_dim": self.predictor_hidden_dim})
        return config


def _require_class_token(backbone, name):
    if not getattr(backbone, "use_class_token", False):
        raise ValueError(
            f"{name} reads the class token as each view's global representation; build the "
            "backbone with `use_class_token=True` (e.g. `VideoViTBackbone.from_preset(name, "
            "use_class_token=True)`)."
        )
