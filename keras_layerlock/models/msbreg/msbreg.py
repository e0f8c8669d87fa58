import keras
from keras import ops

from keras_layerlock.layers.mlp_head import MLPHead
from keras_layerlock.layers.simclr_augmentation import SimCLRAugmentation
from keras_layerlock.losses.brownian_diffusion import brownian_diffusion_loss
from keras_layerlock.losses.multiview_centroid import multiview_centroid_loss
from keras_layerlock.losses.singular_value import singular_value_loss
from keras_layerlock.models.keras_hub_task import KerasHubTask
from keras_layerlock.models.pretraining.ema_teacher import EMATeacher
from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone


def global_features(backbone, images, training=False):
    """One vector per image from any Keras image backbone: a
    `VideoViTBackbone`'s last block mean-pooled, a feature map `(B, h, w, C)`
    (keras-hub's `ResNetBackbone`) or tokens `(B, N, D)` averaged, a
    `(B, D)` output as it is."""
    if isinstance(backbone, VideoViTBackbone):
        outputs = backbone.forward_intermediates(images, -1, training=training)[0]
    else:
        outputs = backbone(images, training=training)
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[-1]
    if len(outputs.shape) == 4:
        return ops.mean(outputs, axis=(1, 2))
    if len(outputs.shape) == 3:
        return ops.mean(outputs, axis=1)
    if len(outputs.shape) == 2:
        return outputs
    raise ValueError(
        f"The backbone returned shape {tuple(outputs.shape)}; expected (B, D), (B, N, D) or "
        "(B, h, w, C)."
    )


@keras.saving.register_keras_serializable(package="keras_layerlock")
class MSBReg(KerasHubTask):
    """MSBReg: BYOL with K views, a Brownian diffusive and a singular value loss.

    "An Embedding-Dynamic Approach to Self-supervised Learning" (its
    supplement describes the settings): an online network (backbone,
    projector, predictor) and an EMA target network (backbone, projector),
    updated at the start of every training step on every backend
    (`EMATeacher`). Each image gives `num_views` views
    (`SimCLRAugmentation`, drawn inside the step). The loss is
    `multiview_centroid_loss` (each online prediction towards the
    normalised centroid of the other views' targets; BYOL's loss for two
    views) + `brownian_weight` x `brownian_diffusion_loss` (a fresh
    Gaussian direction every step, from the model's seed generator) +
    `singular_value_weight` x `singular_value_loss` (SVMax's form, the
    documented default: the paper's formula is not in its supplement), the
    last two on all views' online predictions. `fit` logs each term.

    Args:
        backbone: any Keras image backbone (`VideoViTBackbone` in image
            mode, keras-hub's `ResNetBackbone`, a `keras.Model`).
        num_views: int >= 2, K.
        projector_hidden_dim, projection_dim: the heads' widths; defaults
            512 and 128 (the paper's for small backbones).
        head_normalization: `"batch"` or `"layer"`: the paper's key
            experiment swaps BatchNorm for LayerNorm in the heads (BYOL then
            collapses).
        brownian_weight, singular_value_weight: lambda_b and lambda_s.
        ema_momentum: float or `(start, end)`; defaults to `(0.996, 1.0)`.
        ema_steps: int or None. Length of the momentum ramp.
        augmentation: a layer mapping images `(B, H, W, C)` to views
            `(K, B, H, W, C)`; defaults to `SimCLRAugmentation(num_views)`.
        seed: int or None.
        **kwargs: base model arguments.

    Example:
    ```python
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512], stackwise_num_blocks=[2, 2, 2, 2],
        stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block",
        use_pre_activation=False, image_shape=(32, 32, 3))   # ResNet-18
    model = keras_layerlock.MSBReg(backbone, num_views=4, brownian_weight=0.5,
                                   singular_value_weight=0.004, seed=0)
    model.compile(optimizer=keras_layerlock.LARS(0.3))
    model.fit(images, batch_size=64, epochs=1)  # images in [0, 1]
    ```
    """

    def __init__(self, backbone, num_views=2, projector_hidden_dim=512, projection_dim=128,
                 head_normalization="batch", brownian_weight=0.0, singular_value_weight=0.0,
                 ema_momentum=(0.996, 1.0), ema_steps=None, augmentation=None, seed=None,
                 **kwargs):
        kwargs.setdefault("name", "msbreg")
        super().__init__(**kwargs)
        if isinstance(backbone, dict):
            backbone = keras.layers.deserialize(backbone)
        if isinstance(augmentation, dict):
            augmentation = keras.layers.deserialize(augmentation)
        if isinstance(num_views, bool) or int(num_views) != num_views or num_views < 2:
            raise ValueError(f"`num_views` must be an int >= 2; received {num_views!r}.")
        if head_normalization not in ("batch", "layer"):
            raise ValueError("`head_normalization` must be 'batch' or 'layer'; received "
                             f"{head_normalization!r}.")
        for name, value in (("brownian_weight", brownian_weight),
                            ("singular_value_weight", singular_value_weight)):
            if isinstance(value, bool) or not float(value) >= 0.0:
                raise ValueError(f"`{name}` must be a float >= 0; received {value!r}.")
        self.backbone = backbone
        self.num_views = int(num_views)
        self.projector_hidden_dim = int(projector_hidden_dim)
        self.projection_dim = int(projection_dim)
        self.head_normalization = head_normalization
        self.brownian_weight = float(brownian_weight)
        self.singular_value_weight = float(singular_value_weight)
        self.seed = seed
        self.augmentation = augmentation or SimCLRAugmentation(
            self.num_views, seed=seed, name="augmentation")
        heads = dict(normalization=head_normalization, dtype=self.dtype_policy)
        self.projector = MLPHead([self.projector_hidden_dim], output_units=self.projection_dim,
                                 name="projector", **heads)
        self.predictor = MLPHead([self.projector_hidden_dim], output_units=self.projection_dim,
                                 name="predictor", **heads)
        self.seed_generator = keras.random.SeedGenerator(seed, name="brownian_seed_generator")
        self.ema_teacher = EMATeacher(ema_momentum, ema_steps, dtype="float32", name="ema_teacher")
        self._build_networks()
        self.target_backbone = EMATeacher.copy_of(backbone, "target_backbone")
        self.target_projector = EMATeacher.copy_of(self.projector, "target_projector")
        self.centroid_loss_tracker = keras.metrics.Mean(name="centroid_loss")
        self.brownian_loss_tracker = keras.metrics.Mean(name="brownian_loss")
        self.singular_value_loss_tracker = keras.metrics.Mean(name="singular_value_loss")
        self.built = True  # every weight exists now: presets and checkpoints load whole

    def _image_shape(self):
        if isinstance(self.backbone, VideoViTBackbone):
            return tuple(self.backbone.image_size) + (self.backbone.num_channels,)
        try:
            shape = tuple(self.backbone.input_shape)[1:]
        except (AttributeError, ValueError):
            shape = ()
        # Backbones that take any size: a 32-pixel probe, only for widths.
        return tuple(32 if d is None else d for d in shape) if len(shape) == 3 else (32, 32, 3)

    def _build_networks(self):
        probe = ops.zeros((2,) + self._image_shape())
        width = global_features(self.backbone, probe).shape[-1]
        self.projector.build((None, width))
        self.predictor.build((None, self.projection_dim))

    def call(self, images, training=False):
        """K views, the online predictions and the target projections.

        Returns:
            dict: `predictions` and `targets` `(K, B, projection_dim)`, and
            the `views` `(K, B, H, W, C)`.
        """
        if len(images.shape) != 4:
            raise ValueError(f"{type(self).__name__} takes images (B, H, W, C); received shape "
                             f"{tuple(images.shape)}.")
        if training:
            # At the step's start, on the weights the previous step produced.
            self.ema_teacher.update([(self.backbone, self.target_backbone),
                                     (self.projector, self.target_projector)])
        views = self.augmentation(images)
        predictions, targets = [], []
        for k in range(self.num_views):
            view = views[k]
            predictions.append(self.predictor(self.project(view, training), training=training))
            target = self.target_projector(
                global_features(self.target_backbone, view, False), training=False)
            targets.append(ops.stop_gradient(target))
        return {"predictions": ops.stack(predictions), "targets": ops.stack(targets),
                "views": views}

    def project(self, images, training=False):
        """Online projections `(B, projection_dim)` of images as they are
        (no views): the embedding whose collapse BYOL with LayerNorm heads
        shows, and what `CollapseMonitor` measures for this model."""
        return self.projector(global_features(self.backbone, images, training),
                              training=training)

    def brownian_direction(self):
        """A fresh Gaussian direction `(projection_dim,)`, drawn from the
        model's seed generator (a new one every training step)."""
        return keras.random.normal((self.projection_dim,), seed=self.seed_generator)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        predictions = y_pred["predictions"]
        centroid = multiview_centroid_loss(predictions, y_pred["targets"])
        flat = ops.reshape(predictions, (-1, predictions.shape[-1]))
        direction = self.brownian_direction()
        brownian = brownian_diffusion_loss(flat, direction)
        singular = singular_value_loss(flat) if self.singular_value_weight > 0 else \
            ops.zeros((), "float32")
        self.centroid_loss_tracker.update_state(centroid)
        self.brownian_loss_tracker.update_state(brownian)
        self.singular_value_loss_tracker.update_state(singular)
        return (centroid + self.brownian_weight * brownian
                + self.singular_value_weight * singular)

    def get_config(self):
        config = super().get_config()
        config.pop("preprocessor", None)  # keras-hub's; these models have none
        config.update({
            "backbone": keras.layers.serialize(self.backbone),
            "num_views": self.num_views,
            "projector_hidden_dim": self.projector_hidden_dim,
            "projection_dim": self.projection_dim,
            "head_normalization": self.head_normalization,
            "brownian_weight": self.brownian_weight,
            "singular_value_weight": self.singular_value_weight,
            "ema_momentum": self.ema_teacher.momentum,
            "ema_steps": self.ema_teacher.num_steps,
            "augmentation": keras.layers.serialize(self.augmentation),
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_layerlock")
class BYOL(MSBReg):
    """BYOL: MSBReg with two views and neither regulariser.

    Grill et al., "Bootstrap Your Own Latent" (2020): the online network
    predicts the EMA target network's projection of the other view. The
    base that MSBReg extends; `head_normalization="layer"` reproduces the
    collapse MSBReg's paper rescues with its Brownian term.

    Args:
        backbone: any Keras image backbone.
        **kwargs: `MSBReg` arguments other than `num_views`,
            `brownian_weight` and `singular_value_weight`.

    Example:
    ```python
    model = keras_layerlock.BYOL(backbone, seed=0)
    model.compile(optimizer=keras_layerlock.LARS(0.2))
    ```
    """

    def __init__(self, backbone, **kwargs):
        kwargs.setdefault("name", "byol")
        for fixed, value in (("num_views", 2), ("brownian_weight", 0.0),
                             ("singular_value_weight", 0.0)):
            if kwargs.pop(fixed, value) != value:
                raise ValueError(f"BYOL fixes `{fixed}` at {value}; use MSBReg to change it.")
        super().__init__(backbone, num_views=2, **kwargs)

    def get_config(self):
        config = super().get_config()
        for fixed in ("num_views", "brownian_weight", "singular_value_weight"):
            config.pop(fixed)
        return config
