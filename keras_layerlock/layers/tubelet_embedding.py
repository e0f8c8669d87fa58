import keras
from keras import ops

from keras_layerlock.utils.video_patches import normalize_patch_size
from keras_layerlock.utils.video_patches import patchify
from keras_layerlock.utils.video_patches import video_grid_shape


@keras.saving.register_keras_serializable(package="keras_layerlock")
class TubeletEmbedding(keras.layers.Layer):
    """Cuts a video into non-overlapping tubelets and projects each linearly.

    This is the patch embedding of video ViTs (ViViT, VideoMAE, 4DS): a
    strided 3-D convolution with kernel = stride = `patch_size`. It is
    computed as a reshape followed by one matrix product, which is the same
    function and runs fast on every backend. The kernel is stored as
    `(t, p_h, p_w, channels, hidden_dim)`, the layout of a `Conv3D` kernel,
    so converted convolution weights load as they are.

    Images `(batch, height, width, channels)` and one-frame videos are tiled
    to the tubelet's temporal size first, so one set of weights embeds both.

    Args:
        hidden_dim: int. Width of each token.
        patch_size: int or tuple `(t, p_h, p_w)`. Tubelet size; defaults to
            `(2, 16, 16)`.
        num_channels: int. Channels of the input; defaults to 3.
        use_bias: bool. Whether the projection has a bias; defaults to True.
        kernel_initializer: initializer for the projection. Defaults to
            `"glorot_uniform"` over the flattened tubelet (the xavier-uniform
            initialisation of MAE's patch embedding).
        input_mean, input_std: None (default) or one float per channel.
            The tubelets are standardised as `(x - input_mean) / input_std`
            before the projection: released models that expect ImageNet
            statistics (V-JEPA 2, VideoMAE: mean `(0.485, 0.456, 0.406)`,
            std `(0.229, 0.224, 0.225)` on [0, 1] pixels) then take this
            library's [0, 1] videos as they are, and the convention travels
            with the layer's config (and so with a preset).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, frames, height, width, channels)` or
            `(batch, height, width, channels)`.

    Returns:
        Tokens `(batch, num_tokens, hidden_dim)` in row-major `(t, h, w)` grid
        order.

    Example:
    ```python
    layer = TubeletEmbedding(hidden_dim=64, patch_size=(2, 8, 8))
    tokens = layer(np.random.rand(2, 4, 32, 32, 3))  # (2, 2 * 4 * 4, 64)
    ```
    """

    def __init__(
        self,
        hidden_dim,
        patch_size=(2, 16, 16),
        num_channels=3,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        input_mean=None,
        input_std=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(hidden_dim) <= 0:
            raise ValueError(
                f"`hidden_dim` must be a positive int. Received: {hidden_dim}"
            )
        self.hidden_dim = int(hidden_dim)
        self.patch_size = normalize_patch_size(patch_size)
        self.num_channels = int(num_channels)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.input_mean = _channel_values(input_mean, "input_mean", self.num_channels)
        self.input_std = _channel_values(input_std, "input_std", self.num_channels)
        if (self.input_mean is None) != (self.input_std is None):
            raise ValueError(
                "Pass both `input_mean` and `input_std` (one value per channel) or neither; "
                f"received input_mean={input_mean!r}, input_std={input_std!r}."
            )
        if self.input_std is not None and min(self.input_std) <= 0:
            raise ValueError(f"`input_std` must be positive; received {input_std!r}.")

    @property
    def patch_dim(self):
        t, ph, pw = self.patch_size
        return t * ph * pw * self.num_channels

    def build(self, input_shape=None):
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.patch_size + (self.num_channels, self.hidden_dim),
            initializer=_FlattenedFanInitializer(self.kernel_initializer),
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.hidden_dim,), initializer="zeros"
            )
        self.built = True

    def grid_shape(self, input_shape):
        """Token grid `(T', H', W')` for an input shape (validates it)."""
        return video_grid_shape(input_shape, self.patch_size, self.num_channels)

    def project(self, patches):
        """Projects flattened tubelets `(..., patch_dim)` (from `patchify`).

        Equal to `call` on the tubelets' video; masked models use it to
        embed only the visible tubelets.
        """
        kernel = ops.reshape(self.kernel, (self.patch_dim, self.hidden_dim))
        patches = ops.cast(patches, self.compute_dtype)
        if self.input_mean is not None:
            # A tubelet is flattened as (t, p_h, p_w, C): channel i % C.
            repeats = self.patch_dim // self.num_channels
            mean = ops.tile(ops.convert_to_tensor(self.input_mean, self.compute_dtype), repeats)
            std = ops.tile(ops.convert_to_tensor(self.input_std, self.compute_dtype), repeats)
            patches = (patches - mean) / std
        tokens = ops.matmul(patches, kernel)
        if self.bias is not None:
            tokens = tokens + self.bias
        return tokens

    def call(self, inputs):
        self.grid_shape(inputs.shape)
        return self.project(patchify(inputs, self.patch_size))

    def compute_output_shape(self, input_shape):
        gt, gh, gw = self.grid_shape(input_shape)
        return (input_shape[0], gt * gh * gw, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "patch_size": self.patch_size,
                "num_channels": self.num_channels,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "input_mean": self.input_mean,
                "input_std": self.input_std,
            }
        )
        return config


def _channel_values(values, name, num_channels):
    """One float per channel, or None."""
    if values is None:
        return None
    values = tuple(float(v) for v in values)
    if len(values) != num_channels:
        raise ValueError(f"`{name}` needs one value per channel ({num_channels}); received "
                         f"{len(values)}: {values}.")
    return values


class _FlattenedFanInitializer(keras.initializers.Initializer):
    """Initialises a `(t, p, p, C, D)` kernel as if it were `(t*p*p*C, D)`.

    Keras would compute a convolution's fans from the receptive field, which
    gives the same fans here; flattening makes that explicit and independent
    of the kernel's rank.
    """

    def __init__(self, initializer):
        self.initializer = initializer

    def __call__(self, shape, dtype=None):
        fan_in = 1
        for size in shape[:-1]:
            fan_in *= size
        flat = self.initializer((fan_in, shape[-1]), dtype=dtype)
        return ops.reshape(flat, shape)
