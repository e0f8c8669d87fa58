import keras
import numpy as np
from keras import ops

from keras_layerlock.layers.masked_token_predictor import MaskedTokenPredictor
from keras_layerlock.layers.token_masking import TokenMasking
from keras_layerlock.losses.masked_reconstruction import masked_reconstruction_loss
from keras_layerlock.losses.pixel_targets import check_pixel_target_options
from keras_layerlock.losses.pixel_targets import pixel_target_dim
from keras_layerlock.losses.pixel_targets import pixel_targets
from keras_layerlock.models.pretraining.pretraining_model import PretrainingModel
from keras_layerlock.utils.video_input_checks import check_video_dtype
from keras_layerlock.utils.video_patches import gather_positions
from keras_layerlock.utils.video_patches import gather_tokens
from keras_layerlock.utils.video_patches import grid_positions
from keras_layerlock.utils.video_patches import patchify

DECODER_TYPES = ("layerlock", "mae")


@keras.saving.register_keras_serializable(package="keras_layerlock")
class LayerLockMAE(PretrainingModel):
    """Video masked autoencoder with LayerLock's progressive freezing.

    LayerLock (Erdogan et al., "LayerLock: Non-collapsing Representation
    Learning with Progressive Freezing", 2025) trains a video ViT as a
    masked autoencoder (4DS-style: random masking at ratio 0.95, pixel
    targets) and, on a schedule, freezes the first encoder blocks while
    switching the prediction target from pixels to the activations of the
    newest frozen block. This model holds the network and the training
    objective; `LayerLockCallback` moves it along a `LayerLockSchedule`
    during `fit`. Its own training step (Keras' per-backend `train_step`
    around this model's `call` and `compute_loss`) swaps the target.

    What one training step computes, with `d` frozen blocks and target
    block `k` (`k <= d`):

    1. Embed all tubelets and split them into visible and masked tokens
       (drawn inside the compiled step from a `SeedGenerator`, with a
       static number of visible tokens).
    2. Frozen prefix, forward only (`stop_gradient`, no gradients or stored
       activations): blocks `1..d` on the visible tokens (the input of the
       trainable blocks; attention never sees masked tokens), and blocks
       `1..k` on all tokens for the targets.
    3. Trainable encoder blocks `d+1..E` on the visible tokens.
    4. Decoder. `decoder="layerlock"` (default): the backbone's last
       `num_decoder_layers` blocks; a learned latent token per predicted
       position (carrying its position) is joined to the visible tokens
       before the first of them. `decoder="mae"`: a separate narrow
       transformer (MAE style) over visible + latent tokens; the encoder is
       then the whole backbone.
    5. A patch-wise linear head per target kind maps each latent token to
       its target: the tubelet's pixels (optionally normalised per patch,
       MAE's `norm_pix_loss`) before the first event, block `k`'s output
       after it. Loss: mean squared error over the predicted positions.

    With latent targets only a random `latent_loss_patch_fraction` of the
    masked positions get latent query tokens (LayerLock reports 5 % as a
    cheaper variant, 100 % as the best).

    Args:
        backbone: a `VideoViTBackbone`.
        num_decoder_layers: int. Backbone blocks used as the decoder
            (`decoder="layerlock"`); defaults to 4.
        mask_ratio: float; defaults to 0.95.
        masking: `"random"` (default) or `"tube"`.
        norm_pix_loss: bool. Normalise pixel targets per patch (MAE's
            `norm_pix_loss`: mean and sample variance of each tubelet's
            pixels); defaults to False.
        raw_pixel_loss_weight: float >= 0, with `norm_pix_loss=True` only.
            When positive, the pixel head predicts each masked tubelet both
            normalised and raw, and the pixel loss is
            `(mse_normalised + raw_pixel_loss_weight * mse_raw) / 2`.
            Normalised targets keep texture (the look of a scene) and drop
            each patch's mean colour and contrast, where raw targets keep
            where things are; on the procedural suite a tiny MAE reads out
            appearance well only with the first and motion only with the
            second (README, "Main job"). Defaults to 0 (MAE's
            `norm_pix_loss` alone).
        latent_loss_patch_fraction: float in (0, 1]; defaults to 1.0.
        decoder: `"layerlock"` or `"mae"`.
        decoder_hidden_dim, decoder_num_layers, decoder_num_heads,
        decoder_intermediate_dim: size of the separate decoder
            (`decoder="mae"`); default to half the backbone width, 4 layers.
        num_frozen_layers, target_layer: LayerLock state to start in (0 = no
            freezing, pixel targets); normally set by `LayerLockCallback`.
        target_mode: `"newest"` (default): after an event the target is the
            output of the scheduled block; `"all"`: the outputs of every
            block up to it at once, each through its own latent head (the
            loss is their mean; LayerLock reports the two as equal).
        online_latent_weight: float. The collapse baseline of LayerLock's
            Sec. 4: with a weight > 0 the model also predicts, with the
            latent head, its own current (online, stop-gradient, unfrozen)
            activations at block `online_latent_layer` at the masked
            positions, added to the pixel loss with this weight. 0 (default)
            disables it. Use without `LayerLockCallback`.
        online_latent_layer: int; defaults to the last encoder block.
        online_latent_schedule: `"constant"` or `"cosine"` (the weight ramps
            from 0 along a half cosine over `online_latent_steps` steps).
        online_latent_steps: int, the ramp length for `"cosine"`.
        seed: int or None. Seed of the masks.
        **kwargs: `name`, `dtype`, ...

    Example:
    ```python
    backbone = keras_layerlock.VideoViTBackbone.from_preset("video_vit_tiny")
    model = keras_layerlock.LayerLockMAE(backbone, num_decoder_layers=4)
    model.compile(optimizer=keras.optimizers.AdamW(3e-4, weight_decay=0.05,
                                                   beta_2=0.95))
    schedule = keras_layerlock.LayerLockSchedule(
        num_steps_before_first_freeze=200, num_steps_between_freezes=100,
        target_layers=[1, 2, 3])
    model.fit(train_videos, epochs=5,
              callbacks=[keras_layerlock.LayerLockCallback(schedule)])
    ```
    """

    def __init__(
        self,
        backbone,
        num_decoder_layers: int = 4,
        mask_ratio: float = 0.95,
        masking: str = "random",
        norm_pix_loss: bool = False,
        raw_pixel_loss_weight: float = 0.0,
        latent_loss_patch_fraction: float = 1.0,
        decoder: str = "layerlock",
        decoder_hidden_dim: int | None = None,
        decoder_num_layers: int = 4,
        decoder_num_heads: int | None = None,
        decoder_intermediate_dim: int | None = None,
        num_frozen_layers: int = 0,
        target_layer: int = 0,
        target_mode: str = "newest",
        online_latent_weight: float = 0.0,
        online_latent_layer: int | None = None,
        online_latent_schedule: str = "constant",
        online_latent_steps: int | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        kwargs.setdefault("name", "layerlock_mae")
        super().__init__(backbone, **kwargs)
        backbone = self.backbone
        if decoder not in DECODER_TYPES:
            raise ValueError(f"`decoder` must be one of {DECODER_TYPES}; received {decoder!r}.")
        if not 0.0 < float(latent_loss_patch_fraction) <= 1.0:
            raise ValueError(
                "`latent_loss_patch_fraction` must be in (0, 1]; received "
                f"{latent_loss_patch_fraction}."
            )
        self._num_decoder_layers_argument = int(num_decoder_layers)
        num_decoder_layers = int(num_decoder_layers) if decoder == "layerlock" else 0
        if decoder == "layerlock" and not 1 <= num_decoder_layers < backbone.num_layers:
            raise ValueError(
                f"`num_decoder_layers` must be between 1 and num_layers - 1 = "
                f"{backbone.num_layers - 1} for a backbone of {backbone.num_layers} "
                f"blocks; received {num_decoder_layers}."
            )
        self.num_decoder_layers = num_decoder_layers
        # Validates `mask_ratio` and `masking`; the single owner of both.
        self.token_masking = TokenMasking(
            mask_ratio, masking, seed, dtype=self.dtype_policy, name="token_masking"
        )
        self.norm_pix_loss, self.raw_pixel_loss_weight = check_pixel_target_options(
            norm_pix_loss, raw_pixel_loss_weight)
        self.latent_loss_patch_fraction = float(latent_loss_patch_fraction)
        if target_mode not in ("newest", "all"):
            raise ValueError(f"`target_mode` must be 'newest' or 'all'; received {target_mode!r}.")
        self.target_mode = target_mode
        self.online_latent_weight = float(online_latent_weight)
        self.online_latent_layer = (
            self.num_encoder_layers if online_latent_layer is None else int(online_latent_layer)
        )
        self.online_latent_schedule = online_latent_schedule
        self.online_latent_steps = None if online_latent_steps is None else int(online_latent_steps)
        if self.online_latent_weight < 0:
            raise ValueError(f"`online_latent_weight` must be >= 0; received {online_latent_weight}.")
        if not 1 <= self.online_latent_layer <= self.num_encoder_layers:
            raise ValueError(
                f"`online_latent_layer` must be in [1, {self.num_encoder_layers}] (an "
                f"encoder block); received {online_latent_layer}."
            )
        if online_latent_schedule not in ("constant", "cosine"):
            raise ValueError(
                "`online_latent_schedule` must be 'constant' or 'cosine'; received "
                f"{online_latent_schedule!r}."
            )
        if online_latent_schedule == "cosine" and not (self.online_latent_steps or 0) >= 1:
            raise ValueError(
                "The cosine `online_latent_schedule` needs `online_latent_steps` >= 1; "
                f"received {online_latent_steps!r}."
            )
        self.decoder = decoder
        self.seed = seed
        hidden = backbone.hidden_dim
        policy = self.dtype_policy

        self.predictor = None
        if decoder == "mae":
            self.decoder_hidden_dim = int(decoder_hidden_dim or max(hidden // 2, 8))
            self.decoder_num_layers = int(decoder_num_layers)
            self.decoder_num_heads = int(decoder_num_heads or max(1, backbone.num_heads // 2))
            self.decoder_intermediate_dim = int(decoder_intermediate_dim or 4 * self.decoder_hidden_dim)
            # Without RoPE the predictor adds fixed sin-cos codes, as MAE's
            # decoder does.
            self.predictor = MaskedTokenPredictor.for_backbone(
                backbone,
                self.decoder_hidden_dim,
                self.decoder_num_layers,
                self.decoder_num_heads,
                self.decoder_intermediate_dim,
                dtype=policy,
                name="decoder",
            )
            query_dim = self.decoder_hidden_dim
        else:
            self.decoder_hidden_dim = decoder_hidden_dim
            self.decoder_num_layers = decoder_num_layers
            self.decoder_num_heads = decoder_num_heads
            self.decoder_intermediate_dim = decoder_intermediate_dim
            query_dim = hidden
        self.query_dim = query_dim
        self.pixel_head = keras.layers.Dense(
            pixel_target_dim(self.backbone.patch_embedding.patch_dim, self.raw_pixel_loss_weight),
            dtype=policy, name="pixel_head",
        )
        self.latent_head = keras.layers.Dense(hidden, dtype=policy, name="latent_head")
        # With target_mode="all", one more head per further encoder block.
        self.extra_latent_heads = []
        if target_mode == "all":
            self.extra_latent_heads = [
                keras.layers.Dense(hidden, dtype=policy, name=f"latent_head_{i}")
                for i in range(2, self.num_encoder_layers + 1)
            ]

        self.latent_token = None
        if decoder == "layerlock":
            self.latent_token = self.add_weight(
                name="latent_token",
                shape=(query_dim,),
                initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            )
        else:
            self.predictor.build((None, None, hidden))
        token_shape = (None, None, query_dim)
        self.pixel_head.build(token_shape)
        self.latent_head.build(token_shape)
        for head in self.extra_latent_heads:
            head.build(token_shape)
        self.online_latent_step = None
        if self.online_latent_weight > 0:
            self.online_latent_step = self.add_weight(
                name="online_latent_step", shape=(), initializer="zeros", trainable=False
            )
        self._init_layerlock(num_frozen_layers, target_layer)

    # ------------------------------------------------------------------ state
    @property
    def mask_ratio(self):
        return self.token_masking.mask_ratio

    @property
    def masking(self):
        return self.token_masking.masking

    @property
    def num_encoder_layers(self):
        """Backbone blocks that belong to the encoder (and may be frozen)."""
        return self.backbone.num_layers - self.num_decoder_layers

    def _target_head_layers(self):
        return [self.pixel_head, self.latent_head] + self.extra_latent_heads

    def _set_target_heads(self, target_layer):
        # Only the head of the current target kind gets gradients; the other
        # is frozen so that it gets no weight decay or moment updates either.
        self.pixel_head.trainable = target_layer == 0
        self.latent_head.trainable = target_layer > 0 or self.online_latent_weight > 0
        for block, head in enumerate(self.extra_latent_heads, start=2):
            head.trainable = block <= target_layer

    # ---------------------------------------------------------------- forward
    def call(self, inputs, training=False):
        """Runs one masked-prediction pass.

        Returns:
            dict: `predictions` and `targets`, both `(batch, num_predicted,
            target_dim)` (the loss is their mean squared difference), and
            the token indices `predicted_ids` `(batch, num_predicted)` and
            `visible_ids` `(batch, num_visible)` of this draw of the mask.
        """
        backbone = self.backbone
        encoding = self.encode_masked(inputs, training=training)
        patches, positions = encoding["patches"], encoding["positions"]
        visible_ids, masked_ids = encoding["visible_ids"], encoding["masked_ids"]
        visible_positions = gather_positions(positions, visible_ids)
        target = self.target_layer
        if target > 0:
            num_masked = masked_ids.shape[1]
            num_predicted = max(1, int(round(num_masked * self.latent_loss_patch_fraction)))
            masked_ids = masked_ids[:, :num_predicted]
        predicted_positions = gather_positions(positions, masked_ids)
        x = backbone.patch_tokens(encoding["encoded"])

        if target > 0:
            # Targets: the frozen prefix again, on all tokens, up to block k.
            tokens = backbone.add_position_embedding(
                backbone.patch_embedding.project(patches), positions, encoding["grid"]
            )
            blocks = [backbone.patch_tokens(b) for b in backbone.encode(
                ops.stop_gradient(tokens), positions, 0, target, training=False)]
            if self.target_mode == "all":
                # Every block up to the target, side by side: the mean
                # squared error over the concatenation is the mean over blocks.
                full = ops.concatenate(blocks, axis=-1)
            else:
                full = blocks[-1]
            targets = ops.stop_gradient(gather_tokens(full, masked_ids))
        else:
            targets = gather_tokens(patches, masked_ids)
            targets = pixel_targets(ops.cast(targets, self.compute_dtype), self.norm_pix_loss,
                                    self.raw_pixel_loss_weight)

        decoded = self._decode(x, visible_positions, predicted_positions, training,
                               encoding["grid"])
        if target == 0:
            predictions = self.pixel_head(decoded)
        elif self.target_mode == "all":
            heads = [self.latent_head] + self.extra_latent_heads[: target - 1]
            predictions = ops.concatenate([head(decoded) for head in heads], axis=-1)
        else:
            predictions = self.latent_head(decoded)
        outputs = {
            "predictions": predictions,
            "targets": targets,
            "predicted_ids": masked_ids,
            "visible_ids": visible_ids,
            "encoded": encoding["encoded"],
        }
        if self.online_latent_weight > 0 and target == 0:
            # The collapse baseline: the online network's own current
            # activations (not frozen) as a second target.
            tokens = backbone.add_position_embedding(
                backbone.patch_embedding.project(patches), positions, encoding["grid"]
            )
            full = backbone.patch_tokens(
                backbone.encode(tokens, positions, 0, self.online_latent_layer)[-1])
            outputs["online_latent_predictions"] = self.latent_head(decoded)
            outputs["online_latent_targets"] = ops.stop_gradient(gather_tokens(full, masked_ids))
            if training:
                self.online_latent_step.assign(self.online_latent_step + 1.0)
        return outputs

    def encode_masked(self, videos, training=False):
        """Draws a mask and encodes the visible tokens (the encoder's half
        of `call`, which two-view models run once per view).

        Returns:
            dict: `encoded` `(B, prefix + num_visible, hidden_dim)` (the
            encoder's output, after the class token if the backbone has
            one), `visible_ids` and `masked_ids` (token indices of this
            draw), `patches` `(B, N, patch_dim)` and the grid `positions`.
        """
        backbone = self.backbone
        check_video_dtype(videos)
        grid = backbone.grid_shape(videos.shape)
        positions = grid_positions(grid)
        patches = patchify(videos, backbone.patch_size)  # (B, N, patch_dim)
        batch_size = ops.shape(patches)[0]
        visible_ids, masked_ids = self.token_masking.sample(batch_size, grid)
        visible_positions = gather_positions(positions, visible_ids)
        # Only visible tubelets are embedded for the encoder: the same
        # tokens as embedding everything and gathering, without the
        # scatter in the backward pass.
        x = backbone.patch_embedding.project(gather_tokens(patches, visible_ids))
        x = backbone.add_position_embedding(x, visible_positions, grid)
        num_frozen = self.num_frozen_layers
        if num_frozen > 0:
            # Frozen prefix: forward only, on the visible tokens.
            x = ops.stop_gradient(x)
            x = backbone.encode(x, visible_positions, 0, num_frozen, training=False)[-1]
            x = ops.stop_gradient(x)
        if num_frozen < self.num_encoder_layers:
            x = backbone.encode(
                x, visible_positions, num_frozen, self.num_encoder_layers, training=training
            )[-1]
        return {"encoded": x, "visible_ids": visible_ids, "masked_ids": masked_ids,
                "patches": patches, "positions": positions, "grid": grid}

    def online_latent_weight_at(self, step):
        """Weight of the online latent loss at training step `step`."""
        if self.online_latent_schedule == "constant":
            return ops.convert_to_tensor(self.online_latent_weight, "float32")
        progress = ops.cast(step, "float32") / float(self.online_latent_steps)
        progress = ops.clip(progress, 0.0, 1.0)
        return self.online_latent_weight * 0.5 * (1.0 - ops.cos(np.pi * progress))

    def _decode(self, visible, visible_positions, predicted_positions, training, grid_shape=None):
        if self.decoder == "mae":
            return self.predictor(
                visible, visible_positions, predicted_positions, training=training
            )
        return self._decode_with_backbone_blocks(
            self.latent_token, visible, visible_positions, predicted_positions, training=training,
            grid_shape=grid_shape)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = masked_reconstruction_loss(y_pred["predictions"], y_pred["targets"])
        if "online_latent_predictions" in y_pred:
            # The step counter was advanced in this step's forward pass.
            weight = self.online_latent_weight_at(self.online_latent_step - 1.0)
            loss = loss + weight * masked_reconstruction_loss(
                y_pred["online_latent_predictions"], y_pred["online_latent_targets"]
            )
        self._track_layerlock_state()
        return loss

    def num_visible_tokens(self, input_shape):
        """Visible tokens per clip for an input shape."""
        return self.token_masking.num_visible(self.backbone.grid_shape(input_shape))

    def get_config(self):
        return {
            "backbone": keras.layers.serialize(self.backbone),
            "num_decoder_layers": self._num_decoder_layers_argument,
            "mask_ratio": self.mask_ratio,
            "masking": self.masking,
            "norm_pix_loss": self.norm_pix_loss,
            "raw_pixel_loss_weight": self.raw_pixel_loss_weight,
            "latent_loss_patch_fraction": self.latent_loss_patch_fraction,
            "decoder": self.decoder,
            "decoder_hidden_dim": self.decoder_hidden_dim,
            "decoder_num_layers": self.decoder_num_layers,
            "decoder_num_heads": self.decoder_num_heads,
            "decoder_intermediate_dim": self.decoder_intermediate_dim,
            "num_frozen_layers": self.num_frozen_layers,
            "target_layer": self.target_layer,
            "target_mode": self.target_mode,
            "online_latent_weight": self.online_latent_weight,
            "online_latent_layer": self.online_latent_layer,
            "online_latent_schedule": self.online_latent_schedule,
            "online_latent_steps": self.online_latent_steps,
            "seed": self.seed,
            "name": self.name,
        }

