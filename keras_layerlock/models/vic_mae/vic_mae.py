import math

import keras
from keras import ops

from keras_layerlock.layers.mlp_head import MLPHead
from keras_layerlock.losses.info_nce import info_nce_loss
from keras_layerlock.models.vic_mae.two_view_mae import TwoViewMAE

MAX_LOGIT_SCALE = 100.0


@keras.saving.register_keras_serializable(package="keras_layerlock")
class ViCMAE(TwoViewMAE):
    """ViC-MAE: a masked autoencoder with a contrastive loss between views.

    Hernandez, Villegas and Ordonez, "ViC-MAE: Self-Supervised
    Representation Learning from Images and Video with Contrastive Masked
    Autoencoders" (ECCV 2024). Two frames of one clip sampled apart (or an
    image and its augmented copy) are masked independently and encoded
    by the same ViT; the MAE pixel loss is on the first frame; both views'
    encoder outputs are average-pooled, projected (a linear layer up to
    twice the width, then two blocks of linear + BatchNorm + ReLU, as the
    supplement describes) and L2-normalised, and InfoNCE is applied in both
    directions with the logits scaled by `exp(tau)`, `tau` learned. As the
    supplement's Algorithm 1, each direction's cross-entropy counts twice:
    the contrastive term is `2 CE(p -> z) + 2 CE(z -> p)`. The negatives
    are the other examples of the (global) batch.

    Defaults are the paper's: lambda 0.025 (`global_loss_weight`), which
    it switches on after a quarter of training (epoch 200 of 800: pass
    `global_loss_start_step`), `tau` learned from `exp(tau) = 1 / 0.07`.
    The public code's choice, a fixed temperature 0.1 and weights 0.97 /
    0.03: `ViCMAE(backbone, learn_temperature=False, temperature=0.1,
    pixel_loss_weight=0.97, global_loss_weight=0.03)`.

    Args:
        backbone: a `VideoViTBackbone`.
        projection_dim: int. The projector's width; defaults to twice the
            backbone's.
        temperature: float. Initial (or, with `learn_temperature=False`,
            fixed) temperature: `exp(tau) = 1 / temperature`.
        learn_temperature: bool; defaults to True.
        **kwargs: `TwoViewMAE` arguments (`min_gap`, `max_gap`,
            `crop_scale`, `flip`, `pixel_loss_weight`, `global_loss_weight`,
            `global_loss_start_step`) and `LayerLockMAE` ones (`mask_ratio`,
            `decoder`, `norm_pix_loss`, `seed`, ...).

    Example:
    ```python
    backbone = keras_layerlock.VideoViTBackbone.from_preset("video_vit_micro")
    model = keras_layerlock.ViCMAE(backbone, min_gap=1, seed=0)
    model.compile(optimizer="adamw")
    model.fit(videos, batch_size=16, epochs=1)  # videos (N, T, H, W, 3) in [0, 1]
    ```
    """

    global_loss_name = "contrastive_loss"

    def __init__(self, backbone, projection_dim=None, temperature=0.07, learn_temperature=True,
                 **kwargs):
        kwargs.setdefault("name", "vic_mae")
        super().__init__(backbone, **kwargs)
        width = self.backbone.hidden_dim
        self.projection_dim = int(projection_dim or 2 * width)
        if not 0.0 < float(temperature) <= 1.0:
            raise ValueError(f"`temperature` must be in (0, 1]; received {temperature!r}.")
        self.temperature = float(temperature)
        self.learn_temperature = bool(learn_temperature)
        self.projector = MLPHead([self.projection_dim] * 2, input_units=self.projection_dim,
                                 dtype=self.dtype_policy, name="projector")
        self.projector.build((None, width))
        self.log_logit_scale = self.add_weight(
            name="log_logit_scale", shape=(),
            initializer=keras.initializers.Constant(math.log(1.0 / self.temperature)),
            trainable=self.learn_temperature,
        )

    @property
    def logit_scale(self):
        """`exp(tau)`, capped at 100 as CLIP caps it."""
        return ops.exp(ops.minimum(self.log_logit_scale, math.log(MAX_LOGIT_SCALE)))

    def global_outputs(self, first_encoded, second_encoded, training):
        embeddings = []
        for encoded in (first_encoded, second_encoded):
            pooled = ops.mean(self.backbone.patch_tokens(encoded), axis=1)
            embeddings.append(self.projector(pooled, training=training))
        return {"first_embedding": embeddings[0], "second_embedding": embeddings[1]}

    def global_loss(self, outputs):
        # Algorithm 1: ctr(p, z) + ctr(z, p), each twice its cross-entropy.
        return 4.0 * info_nce_loss(outputs["first_embedding"], outputs["second_embedding"],
                                   self.logit_scale)

    def get_config(self):
        config = super().get_config()
        config.update({"projection_dim": self.projection_dim, "temperature": self.temperature,
                       "learn_temperature": self.learn_temperature})
        return config
