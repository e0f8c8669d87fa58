import keras
from keras import ops

from keras_layerlock.layers.seeded_layer import SeededLayer
from keras_layerlock.utils.argument_validation import require_integer


@keras.saving.register_keras_serializable(package="keras_layerlock")
class ViewPairSampling(SeededLayer):
    """Two views of every example, drawn inside the training step.

    ViC-MAE's views (Hernandez et al., 2024): for videos `(B, T, H, W, C)`,
    two frames of one clip sampled apart, the gap between them (in frames)
    drawn uniformly from `[min_gap, max_gap]` (capped at `T - 1`) and the
    pair's start uniformly where it fits; for images `(B, H, W, C)`, the
    image itself and a copy augmented by a random horizontal flip and a
    random resized crop whose area is a fraction in `crop_scale` of the
    image (aspect ratio kept; no colour augmentation, as the paper). Every
    example draws its own views; the draws come from the layer's seed
    generator, whose state is saved with the weights.

    Args:
        min_gap: int >= 0. Smallest frame gap between the two video views.
        max_gap: int >= min_gap, or None (the whole clip).
        crop_scale: `(low, high)` area fractions of the image view's crop;
            defaults to `(0.5, 1.0)`.
        flip: bool. Random horizontal flip of the augmented image view.
        seed: int or None.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: videos `(B, T, H, W, C)` or images `(B, H, W, C)`.

    Returns:
        `(first, second, gaps)`: two `(B, H, W, C)` views and the `(B,)`
        int32 frame gaps between them (zeros for images).

    Example:
    ```python
    sampler = ViewPairSampling(min_gap=2, max_gap=6, seed=0)
    first, second, gaps = sampler(np.random.rand(4, 8, 32, 32, 3).astype("float32"))
    ```
    """

    def __init__(self, min_gap=1, max_gap=None, crop_scale=(0.5, 1.0), flip=True, seed=None,
                 **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.min_gap = require_integer(min_gap, "min_gap", minimum=0)
        self.max_gap = None if max_gap is None else require_integer(max_gap, "max_gap",
                                                                    minimum=self.min_gap)
        low, high = (float(v) for v in crop_scale)
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(
                f"`crop_scale` must be (low, high) with 0 < low <= high <= 1; received {crop_scale!r}."
            )
        self.crop_scale = (low, high)
        self.flip = bool(flip)

    def call(self, inputs):
        if len(inputs.shape) == 5:
            return self._frame_pair(inputs)
        if len(inputs.shape) == 4:
            first = inputs
            second = self._augment(inputs)
            return first, second, ops.zeros((ops.shape(inputs)[0],), "int32")
        raise ValueError(
            "ViewPairSampling expects videos (B, T, H, W, C) or images (B, H, W, C); "
            f"received shape {tuple(inputs.shape)}."
        )

    def _frame_pair(self, videos):
        num_frames = videos.shape[1]
        if num_frames is None:
            raise ValueError("ViewPairSampling needs a static number of frames.")
        if self.min_gap > num_frames - 1:
            raise ValueError(
                f"`min_gap`={self.min_gap} frames does not fit clips of {num_frames} frames; "
                f"use clips of at least {self.min_gap + 1} frames or a smaller min_gap."
            )
        max_gap = num_frames - 1 if self.max_gap is None else min(self.max_gap, num_frames - 1)
        batch_size = ops.shape(videos)[0]
        gaps = keras.random.randint((batch_size,), self.min_gap, max_gap + 1,
                                    seed=self.seed_generator, dtype="int32")
        room = ops.cast(num_frames - gaps, "float32")  # starts 0 ... T - 1 - gap
        starts = ops.cast(
            ops.floor(keras.random.uniform((batch_size,), seed=self.seed_generator) * room), "int32")
        starts = ops.minimum(starts, num_frames - 1 - gaps)
        first = _take_frames(videos, starts)
        second = _take_frames(videos, starts + gaps)
        return first, second, gaps

    def _augment(self, images):
        batch_size = ops.shape(images)[0]
        low, high = self.crop_scale
        area = keras.random.uniform((batch_size,), low, high, seed=self.seed_generator)
        side = ops.sqrt(area)  # crop side as a fraction of the image side
        offset_y = keras.random.uniform((batch_size,), seed=self.seed_generator) * (1.0 - side)
        offset_x = keras.random.uniform((batch_size,), seed=self.seed_generator) * (1.0 - side)
        height, width = images.shape[1], images.shape[2]
        # Output pixel (x, y) samples the input at (x_scale x + x_shift,
        # side y + y_shift): the crop's side and offset; a flip mirrors x.
        if self.flip:
            mirrored = keras.random.uniform((batch_size,), seed=self.seed_generator) < 0.5
            sign = ops.where(mirrored, -1.0, 1.0)
        else:
            sign = ops.ones((batch_size,))
        x_scale = side * sign
        x_shift = offset_x * width + ops.where(sign < 0, side * (width - 1), 0.0)
        y_shift = offset_y * height
        zeros = ops.zeros((batch_size,))
        transform = ops.stack([x_scale, zeros, x_shift, zeros, side, y_shift, zeros, zeros], axis=1)
        return ops.image.affine_transform(
            images, transform, interpolation="bilinear", fill_mode="nearest",
            data_format="channels_last",
        )

    def compute_output_spec(self, inputs):
        shape = tuple(inputs.shape)
        view = shape[:1] + shape[-3:]
        return (keras.KerasTensor(view, inputs.dtype), keras.KerasTensor(view, inputs.dtype),
                keras.KerasTensor(shape[:1], "int32"))

    def get_config(self):
        config = super().get_config()
        config.update({"min_gap": self.min_gap, "max_gap": self.max_gap,
                       "crop_scale": self.crop_scale, "flip": self.flip})
        return config


def _take_frames(videos, indices):
    one_hot = ops.one_hot(indices, videos.shape[1], dtype=videos.dtype)  # (B, T)
    return ops.einsum("bt,bthwc->bhwc", one_hot, videos)

