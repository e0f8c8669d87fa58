import keras
from keras import ops

from keras_layerlock.layers.seeded_layer import SeededLayer
from keras_layerlock.layers.view_pair_sampling import ViewPairSampling


@keras.saving.register_keras_serializable(package="keras_layerlock")
class SimCLRAugmentation(SeededLayer):
    """K independently augmented views of every image, inside the step.

    The SimCLR family of augmentations with MSBReg's parameters (its
    supplement, Table 1): a random resized crop (area in `crop_scale`)
    with a horizontal flip (probability 0.5), colour jitter with
    probability 0.8 (brightness 0.4, contrast 0.4, saturation 0.2, hue
    0.1), greyscale with probability 0.2, Gaussian blur (probability 1.0)
    and solarisation with probability 0.2. The colour, greyscale, blur and
    solarisation steps are Keras' own preprocessing layers
    (`RandomColorJitter`, `RandomGrayscale`, `RandomGaussianBlur`,
    `Solarization`), which run on every backend; each example draws its
    own parameters and whether each step applies. The crop keeps the
    aspect ratio (`ViewPairSampling`'s crop).

    Args:
        num_views: int >= 1, K.
        crop_scale: `(low, high)` area fractions; defaults to `(0.08, 1.0)`.
        jitter_probability, grayscale_probability, blur_probability,
            solarization_probability: floats in [0, 1].
        brightness, contrast, saturation, hue: jitter strengths.
        blur_sigma: `(low, high)` of the blur's standard deviation (pixels).
        seed: int or None.
        **kwargs: base layer arguments.

    Call arguments:
        images: `(B, H, W, C)` floats in [0, 1].

    Returns:
        `(num_views, B, H, W, C)`.

    Example:
    ```python
    views = SimCLRAugmentation(num_views=4, seed=0)(images)  # (4, B, H, W, 3)
    ```
    """

    def __init__(self, num_views=2, crop_scale=(0.08, 1.0), jitter_probability=0.8,
                 grayscale_probability=0.2, blur_probability=1.0, solarization_probability=0.2,
                 brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, blur_sigma=(0.1, 2.0),
                 seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(num_views, bool) or int(num_views) != num_views or num_views < 1:
            raise ValueError(f"`num_views` must be an int >= 1; received {num_views!r}.")
        self.num_views = int(num_views)
        for name, p in (("jitter_probability", jitter_probability),
                        ("grayscale_probability", grayscale_probability),
                        ("blur_probability", blur_probability),
                        ("solarization_probability", solarization_probability)):
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1]; received {p!r}.")
        self.jitter_probability = float(jitter_probability)
        self.grayscale_probability = float(grayscale_probability)
        self.blur_probability = float(blur_probability)
        self.solarization_probability = float(solarization_probability)
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.saturation, self.hue = float(saturation), float(hue)
        self.blur_sigma = tuple(float(s) for s in blur_sigma)
        base = 0 if seed is None else int(seed)
        seeds = [None if seed is None else base + i for i in range(1, 6)]
        self.crop = ViewPairSampling(crop_scale=crop_scale, flip=True, seed=seeds[0], name="crop")
        self.crop_scale = self.crop.crop_scale
        self.jitter = keras.layers.RandomColorJitter(
            value_range=(0, 1), brightness_factor=self.brightness, contrast_factor=self.contrast,
            saturation_factor=self.saturation, hue_factor=self.hue, seed=seeds[1], name="jitter")
        self.grayscale = keras.layers.RandomGrayscale(
            factor=self.grayscale_probability, seed=seeds[2], name="grayscale")
        self.blur = keras.layers.RandomGaussianBlur(
            factor=1.0, kernel_size=3, sigma=self.blur_sigma, value_range=(0, 1), seed=seeds[3],
            name="blur")
        self.solarization = keras.layers.Solarization(
            threshold_factor=(0.5, 0.5), value_range=(0, 1), seed=seeds[4], name="solarization")

    def _maybe(self, layer, images, probability):
        if probability <= 0.0:
            return images
        changed = layer(images, training=True)
        if probability >= 1.0:
            return changed
        batch_size = ops.shape(images)[0]
        apply = keras.random.uniform((batch_size, 1, 1, 1), seed=self.seed_generator) < probability
        return ops.where(apply, changed, images)

    def augment(self, images):
        """One augmented view of every image."""
        x = self.crop(images)[1]
        x = self._maybe(self.jitter, x, self.jitter_probability)
        x = self.grayscale(x, training=True) if self.grayscale_probability > 0 else x
        x = self._maybe(self.blur, x, self.blur_probability)
        x = self._maybe(self.solarization, x, self.solarization_probability)
        return ops.clip(x, 0.0, 1.0)

    def call(self, images):
        if len(images.shape) != 4:
            raise ValueError(
                f"SimCLRAugmentation takes images (B, H, W, C); received shape {tuple(images.shape)}."
            )
        return ops.stack([self.augment(images) for _ in range(self.num_views)], axis=0)

    def compute_output_spec(self, images):
        return keras.KerasTensor((self.num_views,) + tuple(images.shape), images.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_views": self.num_views, "crop_scale": self.crop_scale,
            "jitter_probability": self.jitter_probability,
            "grayscale_probability": self.grayscale_probability,
            "blur_probability": self.blur_probability,
            "solarization_probability": self.solarization_probability,
            "brightness": self.brightness, "contrast": self.contrast,
            "saturation": self.saturation, "hue": self.hue, "blur_sigma": self.blur_sigma,
        })
        return config
