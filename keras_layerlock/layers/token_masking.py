import keras

from keras_layerlock.layers.seeded_layer import SeededLayer
from keras_layerlock.utils.masking import MASKING_TYPES
from keras_layerlock.utils.masking import num_visible_tokens
from keras_layerlock.utils.masking import sample_token_split


@keras.saving.register_keras_serializable(package="keras_layerlock")
class TokenMasking(SeededLayer):
    """Draws visible/masked token splits, with a checkpointed random state.

    Masks are drawn inside the compiled training step from a
    `keras.random.SeedGenerator` with a static number of visible tokens
    (random masking as in MAE / 4DS, or tube masking as in VideoMAE). The
    generator's state is saved with the model's weights (Keras does not
    save seed generators on its own), so a run restored from a checkpoint
    draws the same masks as the run that wrote it.

    Args:
        mask_ratio: float in (0, 1); 0.95 in 4DS.
        masking: `"random"` or `"tube"`.
        seed: int or None.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments (of `sample`, the method models use):
        batch_size: int or scalar tensor.
        grid_shape: `(T', H', W')`.

    Returns:
        `(visible_ids, masked_ids)` int32 `(B, n_visible)`,
        `(B, N - n_visible)`; masked ids in random order.

    Example:
    ```python
    masking = TokenMasking(mask_ratio=0.75, seed=0)
    visible, masked = masking.sample(2, (2, 4, 4))  # (2, 8), (2, 24)
    ```
    """

    def __init__(self, mask_ratio=0.95, masking="random", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if masking not in MASKING_TYPES:
            raise ValueError(f"`masking` must be one of {MASKING_TYPES}; received {masking!r}.")
        if not 0.0 < float(mask_ratio) < 1.0:
            raise ValueError(f"`mask_ratio` must be in (0, 1); received {mask_ratio}.")
        self.mask_ratio = float(mask_ratio)
        self.masking = masking

    def num_visible(self, grid_shape):
        gt, gh, gw = grid_shape
        if self.masking == "tube":
            return gt * num_visible_tokens(gh * gw, self.mask_ratio)
        return num_visible_tokens(gt * gh * gw, self.mask_ratio)

    def sample(self, batch_size, grid_shape):
        """Draws one split (see the class docstring)."""
        return sample_token_split(
            batch_size, tuple(grid_shape), self.mask_ratio, self.seed_generator, self.masking
        )

    def call(self, batch_size, grid_shape):
        return self.sample(batch_size, grid_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"mask_ratio": self.mask_ratio, "masking": self.masking})
        return config
