import numbers

import keras
from keras import ops

from keras_layerlock.layers.masked_token_predictor import MaskedTokenPredictor
from keras_layerlock.layers.multiblock_masking import MULTIBLOCK_PRESETS
from keras_layerlock.layers.multiblock_masking import MultiblockMasking
from keras_layerlock.losses.feature_prediction import FEATURE_PREDICTION_LOSSES
from keras_layerlock.losses.feature_prediction import feature_prediction_loss
from keras_layerlock.losses.pixel_targets import check_pixel_target_options
from keras_layerlock.losses.pixel_targets import pixel_target_dim
from keras_layerlock.losses.pixel_targets import pixel_targets
from keras_layerlock.losses.variance_covariance import variance_covariance_loss
from keras_layerlock.models.pretraining.ema_teacher import EMATeacher
from keras_layerlock.models.pretraining.pretraining_model import PretrainingModel
from keras_layerlock.utils.video_input_checks import check_video_dtype
from keras_layerlock.utils.video_patches import gather_positions
from keras_layerlock.utils.video_patches import gather_tokens
from keras_layerlock.utils.video_patches import grid_positions
from keras_layerlock.utils.video_patches import patchify
from keras_layerlock.utils.video_patches import standardize_last_axis

# `initial_target_layer` value for LayerLock's pixel start.
PIXELS = "pixels"
# What the VJ-VCR terms take as the batch of samples.
VARIANCE_COVARIANCE_SAMPLES = ("clips", "tokens")
# `predictor` values: V-JEPA's separate narrow transformer, or the backbone's
# own last blocks (as `LayerLockMAE`'s default decoder).
PREDICTOR_TYPES = ("vjepa", "layerlock")


@keras.saving.register_keras_serializable(package="keras_layerlock")
class VJEPA(PretrainingModel):
    """V-JEPA feature prediction, with optional LayerLock freezing.

    V-JEPA (Bardes et al., "Revisiting Feature Prediction for Learning
    Visual Representations from Video", 2024): a context encoder sees the
    tokens outside multiblock masks; a narrow predictor transformer takes
    the context tokens plus one mask token per hidden position and predicts
    the features that an EMA copy of the encoder (the teacher) computes on
    the whole clip, layer-normalised; L1 loss (L2 selectable).

    LayerLock on V-JEPA (Erdogan et al., 2025): the same
    `LayerLockSchedule` / `LayerLockCallback` drive this model. After event
    `i` the first blocks are frozen and the target is the teacher's
    activation at block `target_layers[i]`. At each freezing event the
    teacher's copy of the newly frozen blocks (and, at the first event, of
    the patch and position embeddings) is set to the online weights and
    the EMA update skips them from then on, so a frozen teacher block
    equals its online block exactly and the targets are the frozen
    prefix's own activations.

    The EMA update runs inside the training step on every backend, at the
    start of each step on the weights the previous step produced: the
    teacher used at step `t` is the one V-JEPA uses at step `t` (whose
    update runs at the end of step `t - 1`). The momentum goes linearly from
    `ema_momentum[0]` to `ema_momentum[1]` over `ema_steps` steps, counted
    by its `EMATeacher`'s step variable (saved with the weights).

    With `predictor="layerlock"` the predictor is the backbone's last
    `predictor_num_layers` blocks, as in `LayerLockMAE`'s default decoder:
    one learned query token per hidden position (carrying its position)
    joins the context encoder's output before the first of them, and a
    linear `latent_head` (or `pixel_head`) maps the queries' outputs to the
    targets. The encoder, the teacher's output and the blocks that can
    freeze are then the first `num_layers - predictor_num_layers` blocks.
    Measured in the main job's protocol (README, V-JEPA section), the
    separate narrow predictor leaves the encoder's appearance features
    below a random-init backbone's at this scale, with pixel targets and
    with latent ones.

    Args:
        backbone: a `VideoViTBackbone`, the context encoder; the teacher is
            a copy of it.
        predictor: `"vjepa"` (default: a separate `MaskedTokenPredictor`)
            or `"layerlock"` (the backbone's last `predictor_num_layers`
            blocks).
        predictor_hidden_dim: int; defaults to half the backbone width.
            `predictor="vjepa"` only.
        predictor_num_layers: int; defaults to 12 (LayerLock's V-JEPA runs).
            With `predictor="layerlock"`: backbone blocks used as the
            predictor, in `[1, num_layers - 1]`.
        predictor_num_heads: int; defaults to the backbone's heads // 2
            (at least 1). `predictor="vjepa"` only.
        predictor_intermediate_dim: int; defaults to 4 x predictor width.
            `predictor="vjepa"` only.
        predictor_num_mask_tokens: int; defaults to one per mask kind
            (V-JEPA's layout: the queries of mask kind `i` carry token
            `i`). `predictor="vjepa"` only.
        masks: a preset name in `MULTIBLOCK_PRESETS` (`"vjepa"`: short- and
            long-range masks, each clip used with both; `"layerlock"`: 8
            blocks at 30 %), or a list of `MultiblockMasking` argument
            dicts. The loss averages over the mask kinds.
        loss: `"l1"` (V-JEPA) or `"l2"`.
        ema_momentum: float or `(start, end)`; defaults to `(0.998, 1.0)`.
        ema_steps: int. Steps of the momentum ramp; None keeps the start
            value.
        num_frozen_layers, target_layer: LayerLock state to start in (target 0 =
            the teacher's output); normally set by `LayerLockCallback`.
        variance_loss_weight: float, default 0 (V-JEPA). Weight of VICReg's
            variance hinge on the context encoder's output, mean-pooled over
            each clip's context tokens (VJ-VCR: Drozdov et al., "Video
            Representation Learning with Joint-Embedding Predictive
            Architectures", 2024): it keeps the clips' encodings apart, a
            guard against representation collapse.
        covariance_loss_weight: float, default 0. Weight of VICReg's
            covariance term on the same pooled encodings.
        variance_target: float, VICReg's gamma (target standard deviation
            of every channel over the batch); defaults to 1.
        variance_covariance_samples: `"clips"` (default: one sample per
            clip, its mean-pooled context encoding) or `"tokens"` (every
            valid context token of the batch a sample: a batch of 16 clips
            gives at most 16 samples for a 160-wide covariance, their
            tokens a few hundred).
        variance_covariance_on_pixels: bool, default False. Whether the
            variance and covariance terms also apply while the target is
            the pixels (`initial_target_layer="pixels"`, before the first
            freeze). Pixel targets cannot collapse, so by default the terms
            start with the latent targets.
        initial_target_layer: None, int or `"pixels"`. The target while
            nothing is frozen (target 0). None: the teacher's output
            (V-JEPA). An int: that teacher block's output (1-based);
            LayerLock's V-JEPA runs start by predicting the teacher's first
            block (`1`), which keeps the early targets close to the pixels.
            `"pixels"`: the masked tubelets' pixels, predicted by a linear
            `pixel_head` on the predictor's output with a mean squared error
            (LayerLock's MAE start), then the frozen blocks' activations.
        norm_pix_loss: bool, with `initial_target_layer="pixels"` only:
            normalise each target tubelet over its own pixels (MAE's
            `norm_pix_loss`); defaults to False.
        raw_pixel_loss_weight: float >= 0, with `norm_pix_loss=True` only:
            predict the raw pixels beside the normalised ones with this
            weight (as `LayerLockMAE`); defaults to 0.
        seed: int or None. Seed of the masks.
        **kwargs: `name`, `dtype`, ...

    Example:
    ```python
    backbone = keras_layerlock.VideoViTBackbone.from_preset("video_vit_tiny")
    model = keras_layerlock.VJEPA(backbone, predictor_num_layers=2,
                                  ema_steps=1000)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.04))
    model.fit(videos, epochs=5, callbacks=[
        keras_layerlock.WeightDecayScheduler(0.04, 0.4, total_steps=1000)])
    ```
    """

    def __init__(
        self,
        backbone,
        predictor: str = "vjepa",
        predictor_hidden_dim: int | None = None,
        predictor_num_layers: int = 12,
        predictor_num_heads: int | None = None,
        predictor_intermediate_dim: int | None = None,
        predictor_num_mask_tokens: int | None = None,
        masks: str | list[dict] = "vjepa",
        loss: str = "l1",
        ema_momentum: float | tuple[float, float] = (0.998, 1.0),
        ema_steps: int | None = None,
        num_frozen_layers: int = 0,
        target_layer: int = 0,
        variance_loss_weight: float = 0.0,
        covariance_loss_weight: float = 0.0,
        variance_target: float = 1.0,
        variance_covariance_samples: str = "clips",
        variance_covariance_on_pixels: bool = False,
        initial_target_layer: int | str | None = None,
        norm_pix_loss: bool = False,
        raw_pixel_loss_weight: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        kwargs.setdefault("name", "vjepa")
        super().__init__(backbone, **kwargs)
        backbone = self.backbone
        if loss not in FEATURE_PREDICTION_LOSSES:
            raise ValueError(f"`loss` must be one of {FEATURE_PREDICTION_LOSSES}; received {loss!r}.")
        if predictor not in PREDICTOR_TYPES:
            raise ValueError(
                f"`predictor` must be one of {PREDICTOR_TYPES}; received {predictor!r}.")
        if isinstance(predictor_num_layers, bool) or not isinstance(
                predictor_num_layers, numbers.Integral) or predictor_num_layers < 1:
            raise ValueError(
                f"`predictor_num_layers` must be an int >= 1; received {predictor_num_layers!r}.")
        self.predictor_num_layers = int(predictor_num_layers)
        self.predictor_type = predictor
        if predictor == "layerlock":
            if not predictor_num_layers < backbone.num_layers:
                raise ValueError(
                    "With `predictor='layerlock'`, `predictor_num_layers` backbone blocks "
                    "are the predictor and the rest the encoder, so it must be between 1 "
                    f"and num_layers - 1 = {backbone.num_layers - 1}; received "
                    f"{predictor_num_layers}. Pass a smaller value or a deeper backbone.")
            sized = {"predictor_hidden_dim": predictor_hidden_dim,
                     "predictor_num_heads": predictor_num_heads,
                     "predictor_intermediate_dim": predictor_intermediate_dim,
                     "predictor_num_mask_tokens": predictor_num_mask_tokens}
            given = {k: v for k, v in sized.items() if v is not None}
            if given:
                raise ValueError(
                    f"{given} size a separate predictor; with `predictor='layerlock'` the "
                    "predictor is the backbone's own blocks, of the backbone's size. "
                    "Leave them at None or pass `predictor='vjepa'`.")
        if isinstance(masks, str):
            if masks not in MULTIBLOCK_PRESETS:
                raise ValueError(
                    f"Unknown mask preset {masks!r}; choose one of "
                    f"{sorted(MULTIBLOCK_PRESETS)} or pass a list of "
                    "MultiblockMasking argument dicts."
                )
            mask_configs = [dict(c) for c in MULTIBLOCK_PRESETS[masks]]
        else:
            mask_configs = [dict(c) for c in masks]
            if not mask_configs:
                raise ValueError("`masks` must name a preset or hold at least one mask config.")
        # Validates the momentum and the ramp length.
        self.ema_teacher = EMATeacher(ema_momentum, ema_steps, dtype="float32", name="ema_teacher")
        self.masks = masks
        self.loss_type = loss
        for arg, value in (("variance_loss_weight", variance_loss_weight),
                           ("covariance_loss_weight", covariance_loss_weight),
                           ("variance_target", variance_target)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
                raise ValueError(f"`{arg}` must be a number >= 0; received {value!r}.")
        self.variance_loss_weight = float(variance_loss_weight)
        self.covariance_loss_weight = float(covariance_loss_weight)
        self.variance_target = float(variance_target)
        if variance_covariance_samples not in VARIANCE_COVARIANCE_SAMPLES:
            raise ValueError(
                f"`variance_covariance_samples` must be one of {VARIANCE_COVARIANCE_SAMPLES}; "
                f"received {variance_covariance_samples!r}.")
        self.variance_covariance_samples = variance_covariance_samples
        if not isinstance(variance_covariance_on_pixels, bool):
            raise ValueError(
                "`variance_covariance_on_pixels` must be a bool; received "
                f"{variance_covariance_on_pixels!r}.")
        self.variance_covariance_on_pixels = bool(variance_covariance_on_pixels)
        pixel_start = initial_target_layer == PIXELS
        if not pixel_start and initial_target_layer is not None and (
            isinstance(initial_target_layer, bool)
            or not isinstance(initial_target_layer, numbers.Integral)
            or not 1 <= initial_target_layer <= self.num_encoder_layers
        ):
            raise ValueError(
                "`initial_target_layer` must be None (the teacher's output), an int "
                f"encoder block index in [1, {self.num_encoder_layers}] or {PIXELS!r}; received "
                f"{initial_target_layer!r}."
            )
        self.initial_target_layer = (
            initial_target_layer if initial_target_layer is None or pixel_start
            else int(initial_target_layer)
        )
        if not pixel_start and (norm_pix_loss or raw_pixel_loss_weight):
            raise ValueError(
                f"`norm_pix_loss={norm_pix_loss!r}` and `raw_pixel_loss_weight="
                f"{raw_pixel_loss_weight!r}` shape pixel targets, which this model only "
                f"predicts with `initial_target_layer={PIXELS!r}`; received "
                f"`initial_target_layer={initial_target_layer!r}`. Pass "
                f"`initial_target_layer={PIXELS!r}` or leave both at their defaults."
            )
        self.norm_pix_loss, self.raw_pixel_loss_weight = check_pixel_target_options(
            norm_pix_loss, raw_pixel_loss_weight)
        self.seed = seed
        policy = self.dtype_policy
        self.maskings = [
            MultiblockMasking(
                **config,
                seed=None if seed is None else int(seed) + i,
                dtype=policy,
                name=f"masking_{i}",
            )
            for i, config in enumerate(mask_configs)
        ]
        self.target_encoder = EMATeacher.copy_of(backbone, "target_encoder")

        hidden = backbone.hidden_dim
        self.latent_head = None
        self.query_token = None
        if predictor == "layerlock":
            self.predictor = None
            self.predictor_hidden_dim = None
            self.predictor_num_heads = None
            self.predictor_intermediate_dim = None
            self.predictor_num_mask_tokens = None
            self.latent_head = keras.layers.Dense(hidden, dtype=policy, name="latent_head")
            self.latent_head.build((None, None, hidden))
            self.query_token = self.add_weight(
                name="query_token",
                shape=(hidden,),
                initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            )
        else:
            self.predictor_hidden_dim = int(predictor_hidden_dim or max(hidden // 2, 8))
            self.predictor_num_heads = int(predictor_num_heads or max(1, backbone.num_heads // 2))
            self.predictor_intermediate_dim = int(
                predictor_intermediate_dim or 4 * self.predictor_hidden_dim
            )
            self.predictor_num_mask_tokens = (
                len(self.maskings) if predictor_num_mask_tokens is None
                else predictor_num_mask_tokens)
            self.predictor = MaskedTokenPredictor.for_backbone(
                backbone,
                self.predictor_hidden_dim,
                self.predictor_num_layers,
                self.predictor_num_heads,
                self.predictor_intermediate_dim,
                output_dim=hidden,
                num_mask_tokens=self.predictor_num_mask_tokens,
                dtype=policy,
                name="predictor",
            )
            self.predictor.build((None, None, hidden))
        self.pixel_head = None
        if self.pixel_start:
            self.pixel_head = keras.layers.Dense(
                pixel_target_dim(backbone.patch_embedding.patch_dim, self.raw_pixel_loss_weight),
                dtype=policy, name="pixel_head",
            )
            self.pixel_head.build((None, None, hidden))
        self._init_layerlock(num_frozen_layers, target_layer)

    @property
    def num_encoder_layers(self):
        """Backbone blocks of the context encoder (and that may freeze)."""
        if self.predictor_type == "layerlock":
            return self.backbone.num_layers - self.predictor_num_layers
        return self.backbone.num_layers

    @property
    def pixel_start(self):
        """Whether the target before the first freeze is the pixels."""
        return self.initial_target_layer == PIXELS

    @property
    def applies_variance_covariance(self):
        """Whether this step's loss has the variance / covariance terms."""
        if not (self.variance_loss_weight or self.covariance_loss_weight):
            return False
        return self.variance_covariance_on_pixels or not self.predicts_pixels

    @property
    def predicts_pixels(self):
        """Whether the current target is the pixels."""
        return self.pixel_start and self.target_layer == 0

    def _target_head_layers(self):
        return [head for head in (self.pixel_head, self.latent_head) if head is not None]

    def _set_target_heads(self, target_layer):
        # Only the current target kind's head trains: the other gets no
        # weight decay or moment drift.
        if self.pixel_head is not None:
            self.pixel_head.trainable = target_layer == 0
        if self.latent_head is not None:
            self.latent_head.trainable = not (self.pixel_start and target_layer == 0)

    # ------------------------------------------------------------------ EMA
    def _target_pairs(self, num_frozen_layers):
        """(online, teacher) layer pairs; the first `num_frozen_layers` blocks
        and (if any are frozen) the embeddings are excluded."""
        online, teacher = self.backbone, self.target_encoder
        pairs = []
        if num_frozen_layers == 0:
            pairs.append((online.patch_embedding, teacher.patch_embedding))
            if online.position_embedding is not None:
                pairs.append((online.position_embedding, teacher.position_embedding))
        # The teacher runs the encoder blocks only.
        end = self.num_encoder_layers
        pairs += list(
            zip(online.transformer_layers[num_frozen_layers:end],
                teacher.transformer_layers[num_frozen_layers:end])
        )
        if online.final_norm is not None:
            pairs.append((online.final_norm, teacher.final_norm))
        return pairs

    @property
    def num_teacher_blocks(self):
        """Teacher blocks the target runs through in the current state: the
        target block, else `initial_target_layer` (none for pixels), else all
        of them."""
        if self.predicts_pixels:
            return 0
        return self.target_layer or self.initial_target_layer or self.num_encoder_layers

    @property
    def ema_momentum(self):
        """`(start, end)` of the teacher's momentum ramp."""
        return self.ema_teacher.momentum

    @property
    def ema_steps(self):
        """Length of the momentum ramp (None: constant)."""
        return self.ema_teacher.num_steps

    @property
    def ema_step(self):
        """Teacher updates so far (the `EMATeacher`'s counter)."""
        return self.ema_teacher.step

    def ema_momentum_at(self, step):
        """EMA coefficient used at training step `step` (tensor or int)."""
        return self.ema_teacher.momentum_at(step)

    def _update_teacher(self):
        self.ema_teacher.update(self._target_pairs(self.num_frozen_layers))

    def _on_freeze(self, old_num_frozen, new_num_frozen):
        # The teacher's copy of a frozen block is the frozen block: set it
        # once here, and the EMA update skips it from now on.
        online, teacher = self.backbone, self.target_encoder
        layers = list(zip(online.transformer_layers, teacher.transformer_layers))[
            old_num_frozen:new_num_frozen
        ]
        if old_num_frozen == 0:
            layers.append((online.patch_embedding, teacher.patch_embedding))
            if online.position_embedding is not None:
                layers.append((online.position_embedding, teacher.position_embedding))
        EMATeacher.copy_weights(layers)

    # -------------------------------------------------------------- forward
    def call(self, inputs, training=False):
        """Runs one V-JEPA pass (and, in training, the teacher's EMA update).

        Returns:
            dict of lists, one entry per mask kind: `predictions` and
            `targets` `(B, num_target, hidden_dim)` (the pixel head's width
            while the target is the pixels), `target_valid` bool
            `(B, num_target)`, `context_ids`, `target_ids` and
            `context_embeddings` (the context encoder's output mean-pooled
            over each clip's valid context tokens, `(B, hidden_dim)`),
            `context_tokens` (that output, `(B, num_context, hidden_dim)`)
            and `context_valid` bool `(B, num_context)`.
        """
        backbone, teacher = self.backbone, self.target_encoder
        check_video_dtype(inputs)
        if training:
            self._update_teacher()
        grid = backbone.grid_shape(inputs.shape)
        positions = grid_positions(grid)
        batch_size = ops.shape(inputs)[0]
        num_frozen = self.num_frozen_layers

        if self.predicts_pixels:
            features = pixel_targets(
                ops.cast(patchify(inputs, backbone.patch_size), self.compute_dtype),
                self.norm_pix_loss, self.raw_pixel_loss_weight,
            )
        else:
            # Targets: the teacher on every token, forward only.
            teacher_tokens, _ = teacher.embed(inputs)
            features = teacher.encode(
                ops.stop_gradient(teacher_tokens), positions, 0, self.num_teacher_blocks
            )
            # V-JEPA normalises the teacher's features without affine parameters.
            features = teacher.patch_tokens(features[-1])
            features = ops.stop_gradient(standardize_last_axis(features, epsilon=1e-5))

        tokens, _ = backbone.embed(inputs, training=training)
        if num_frozen > 0:
            tokens = ops.stop_gradient(tokens)
        keys = ("predictions", "targets", "target_valid", "context_ids", "target_ids",
                "context_embeddings", "context_tokens", "context_valid")
        outputs = {k: [] for k in keys}
        for mask_index, masking in enumerate(self.maskings):
            context_ids, context_valid, target_ids, target_valid = masking.sample(batch_size, grid)
            context_positions = gather_positions(positions, context_ids)
            target_positions = gather_positions(positions, target_ids)
            x = gather_tokens(tokens, context_ids)
            if num_frozen > 0:
                x = backbone.encode(
                    x, context_positions, 0, num_frozen, attention_mask=context_valid, training=False
                )[-1]
                x = ops.stop_gradient(x)
            if num_frozen < self.num_encoder_layers:
                x = backbone.encode(
                    x, context_positions, num_frozen, self.num_encoder_layers,
                    attention_mask=context_valid, training=training,
                )[-1]
            x = backbone.patch_tokens(x)  # a class token, if any, predicts nothing
            weight = ops.cast(context_valid, x.dtype)[:, :, None]
            outputs["context_embeddings"].append(
                ops.sum(x * weight, axis=1) / ops.maximum(ops.sum(weight, axis=1), 1.0)
            )
            outputs["context_tokens"].append(x)
            outputs["context_valid"].append(context_valid)
            predictions = self._predict(
                x, context_positions, target_positions, context_valid, training, grid,
                mask_index)
            outputs["predictions"].append(predictions)
            outputs["targets"].append(gather_tokens(features, target_ids))
            outputs["target_valid"].append(target_valid)
            outputs["context_ids"].append(context_ids)
            outputs["target_ids"].append(target_ids)
        return outputs

    def _predict(self, context, context_positions, target_positions, context_valid, training,
                 grid_shape=None, mask_index=0):
        if self.predictor is not None:
            predictions = self.predictor(
                context, context_positions, target_positions, context_mask=context_valid,
                mask_index=mask_index, training=training,
            )
            return self.pixel_head(predictions) if self.predicts_pixels else predictions
        x = self._decode_with_backbone_blocks(
            self.query_token, context, context_positions, target_positions, context_valid,
            training, grid_shape)
        return self.pixel_head(x) if self.predicts_pixels else self.latent_head(x)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        losses = []
        # Pixels are regressed with MAE's mean squared error.
        loss_type = "l2" if self.predicts_pixels else self.loss_type
        for predictions, targets, valid in zip(
            y_pred["predictions"], y_pred["targets"], y_pred["target_valid"]
        ):
            losses.append(feature_prediction_loss(predictions, targets, valid, loss_type))
        loss = ops.mean(ops.stack(losses))
        if self.applies_variance_covariance:
            if self.variance_covariance_samples == "clips":
                terms = [variance_covariance_loss(z, self.variance_target)
                         for z in y_pred["context_embeddings"]]
            else:
                terms = [
                    variance_covariance_loss(
                        ops.reshape(z, (-1, z.shape[-1])), self.variance_target,
                        weights=ops.reshape(ops.cast(valid, "float32"), (-1,)))
                    for z, valid in zip(y_pred["context_tokens"], y_pred["context_valid"])
                ]
            variance = ops.mean(ops.stack([t[0] for t in terms]))
            covariance = ops.mean(ops.stack([t[1] for t in terms]))
            loss = loss + self.variance_loss_weight * variance
            loss = loss + self.covariance_loss_weight * covariance
        self._track_layerlock_state()
        return loss

    # --------------------------------------------------------------- config
    def get_config(self):
        return {
            "backbone": keras.layers.serialize(self.backbone),
            "predictor": self.predictor_type,
            "predictor_hidden_dim": self.predictor_hidden_dim,
            "predictor_num_layers": self.predictor_num_layers,
            "predictor_num_heads": self.predictor_num_heads,
            "predictor_intermediate_dim": self.predictor_intermediate_dim,
            "predictor_num_mask_tokens": self.predictor_num_mask_tokens,
            "masks": self.masks if isinstance(self.masks, str) else [dict(m) for m in self.masks],
            "loss": self.loss_type,
            "ema_momentum": self.ema_momentum,
            "ema_steps": self.ema_steps,
            "num_frozen_layers": self.num_frozen_layers,
            "target_layer": self.target_layer,
            "variance_loss_weight": self.variance_loss_weight,
            "covariance_loss_weight": self.covariance_loss_weight,
            "variance_target": self.variance_target,
            "variance_covariance_samples": self.variance_covariance_samples,
            "variance_covariance_on_pixels": self.variance_covariance_on_pixels,
            "initial_target_layer": self.initial_target_layer,
            "norm_pix_loss": self.norm_pix_loss,
            "raw_pixel_loss_weight": self.raw_pixel_loss_weight,
            "seed": self.seed,
            "name": self.name,
        }
