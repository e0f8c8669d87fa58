import keras
from keras import ops

from keras_layerlock.layers.view_pair_sampling import ViewPairSampling
from keras_layerlock.losses.masked_reconstruction import masked_reconstruction_loss
from keras_layerlock.models.mae.layerlock_mae import LayerLockMAE


class TwoViewMAE(LayerLockMAE):
    """An MAE on frames plus a loss between two views' global representations.

    The shared half of ViC-MAE and its MAE + SimSiam / MAE + VICReg
    baselines (Hernandez et al., "ViC-MAE", 2024): every example gives two
    views (`ViewPairSampling`: two frames of a clip a sampled gap apart,
    or an image and an augmented copy), drawn inside the compiled step.
    Each view is a frame, tiled to the backbone's tubelet depth (the
    backbone's image path), masked independently and encoded by the same
    ViT. The MAE pixel loss is on the first view's masked patches; each
    subclass turns the two views' encoder outputs into a global loss
    (`global_loss`), switched on at step `global_loss_start_step` with
    weight `global_loss_weight`: total = `pixel_loss_weight` * pixel +
    lambda * global. `fit` logs both terms (`pixel_loss`, and the
    subclass's name for the other).

    Everything else is `LayerLockMAE`'s (decoders, masking, pixel
    targets, LayerLock freezing), with the MAE decoder and a 0.75 mask
    ratio as defaults, as the paper.

    Args:
        backbone: a `VideoViTBackbone` (frames are tiled to its tubelet
            depth; RoPE or sin-cos positions take any grid).
        min_gap, max_gap: the frame gap of video views (`ViewPairSampling`).
        crop_scale, flip: the augmentation of image views.
        pixel_loss_weight: float; defaults to 1.
        global_loss_weight: float, lambda.
        global_loss_start_step: int. lambda is 0 before this training step.
        **kwargs: `LayerLockMAE` arguments (`mask_ratio`, `decoder`,
            `norm_pix_loss`, `seed`, ...).

    Example:
    ```python
    class MyTwoViewMAE(TwoViewMAE):
        global_loss_name = "my_loss"

        def global_outputs(self, first_encoded, second_encoded, training):
            return {"first_embedding": ops.mean(self.backbone.patch_tokens(first_encoded), 1),
                    "second_embedding": ops.mean(self.backbone.patch_tokens(second_encoded), 1)}

        def global_loss(self, outputs):
            return ops.mean(ops.square(outputs["first_embedding"] - outputs["second_embedding"]))
    ```
    """

    global_loss_name = "global_loss"

    def __init__(self, backbone, min_gap=1, max_gap=None, crop_scale=(0.5, 1.0), flip=True,
                 pixel_loss_weight=1.0, global_loss_weight=0.025, global_loss_start_step=0,
                 mask_ratio=0.75, decoder="mae", seed=None, **kwargs):
        super().__init__(backbone, mask_ratio=mask_ratio, decoder=decoder, seed=seed, **kwargs)
        self.view_sampling = ViewPairSampling(
            min_gap, max_gap, crop_scale, flip,
            seed=None if seed is None else int(seed) + 1, name="view_sampling",
        )
        for name, value in (("pixel_loss_weight", pixel_loss_weight),
                            ("global_loss_weight", global_loss_weight)):
            if isinstance(value, bool) or not float(value) >= 0.0:
                raise ValueError(f"`{name}` must be a float >= 0; received {value!r}.")
        self.pixel_loss_weight = float(pixel_loss_weight)
        self.global_loss_weight = float(global_loss_weight)
        if isinstance(global_loss_start_step, bool) or int(global_loss_start_step) != \
                global_loss_start_step or global_loss_start_step < 0:
            raise ValueError(
                f"`global_loss_start_step` must be an int >= 0; received {global_loss_start_step!r}.")
        self.global_loss_start_step = int(global_loss_start_step)
        self.view_step = self.add_weight(name="view_step", shape=(), initializer="zeros",
                                         trainable=False)
        self.pixel_loss_tracker = keras.metrics.Mean(name="pixel_loss")
        self.global_loss_tracker = keras.metrics.Mean(name=self.global_loss_name)

    def frames_as_clips(self, frames):
        """`(B, H, W, C)` frames as clips of the tubelet depth."""
        depth = self.backbone.patch_size[0]
        return ops.repeat(frames[:, None], depth, axis=1)

    def call(self, inputs, training=False):
        """Two views, each masked and encoded; MAE outputs for the first.

        Returns:
            `LayerLockMAE`'s outputs for the first view, plus
            `second_encoded` (the second view's encoder output, class
            token first if the backbone has one), `gaps` (frame gaps) and
            what the subclass adds (`global_outputs`).
        """
        if len(inputs.shape) not in (4, 5):
            raise ValueError(
                f"{type(self).__name__} takes videos (B, T, H, W, C) or images (B, H, W, C); "
                f"received shape {tuple(inputs.shape)}."
            )
        first, second, gaps = self.view_sampling(inputs)
        outputs = super().call(self.frames_as_clips(first), training=training)
        second_encoded = self.encode_masked(self.frames_as_clips(second), training=training)["encoded"]
        outputs["second_encoded"] = second_encoded
        outputs["gaps"] = gaps
        outputs.update(self.global_outputs(outputs["encoded"], second_encoded, training))
        if training:
            self.view_step.assign(self.view_step + 1.0)
        return outputs

    def global_embedding(self, inputs, training=False):
        """The global representation the loss compares, of unmasked inputs.

        Frames `(B, H, W, C)` (tiled to the tubelet depth) or clips `(B,
        T, H, W, C)` are encoded whole (no mask) and go through the
        subclass's head: ViC-MAE's pooled, projected embedding; the
        baselines' projected class token. For retrieval, k-NN on it, or
        checking that two views agree.

        Returns:
            `(B, dim)` tensor.
        """
        clips = self.frames_as_clips(inputs) if len(inputs.shape) == 4 else inputs
        backbone = self.backbone
        tokens, positions = backbone.embed(clips, training=training)
        encoded = backbone.encode(tokens, positions, 0, self.num_encoder_layers,
                                  training=training)[-1]
        return self.global_outputs(encoded, encoded, training)[self.global_embedding_key]

    global_embedding_key = "first_embedding"

    def global_outputs(self, first_encoded, second_encoded, training):
        """Subclass hook: the embeddings the global loss compares (dict)."""
        raise NotImplementedError

    def global_loss(self, outputs):
        """Subclass hook: the global loss (float32 scalar) of `outputs`."""
        raise NotImplementedError

    def global_loss_weight_at(self, step):
        """lambda at training step `step` (0 before `global_loss_start_step`)."""
        on = ops.cast(ops.cast(step, "float32") >= float(self.global_loss_start_step), "float32")
        return on * self.global_loss_weight

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        pixel = masked_reconstruction_loss(y_pred["predictions"], y_pred["targets"])
        global_term = self.global_loss(y_pred)
        # The step counter was advanced in this step's forward pass.
        weight = self.global_loss_weight_at(self.view_step - 1.0) if training else \
            self.global_loss_weight_at(self.view_step)
        self.pixel_loss_tracker.update_state(pixel)
        self.global_loss_tracker.update_state(global_term)
        self._track_layerlock_state()
        return self.pixel_loss_weight * pixel + weight * global_term

    def get_config(self):
        config = super().get_config()
        config.update({
            "min_gap": self.view_sampling.min_gap,
            "max_gap": self.view_sampling.max_gap,
            "crop_scale": self.view_sampling.crop_scale,
            "flip": self.view_sampling.flip,
            "pixel_loss_weight": self.pixel_loss_weight,
            "global_loss_weight": self.global_loss_weight,
            "global_loss_start_step": self.global_loss_start_step,
        })
        return config
