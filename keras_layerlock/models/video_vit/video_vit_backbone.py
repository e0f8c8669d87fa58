import difflib
import numbers
import os

import keras
from keras import ops
from keras_hub.models import Backbone

from keras_layerlock.layers.learned_position_embedding_3d import LearnedPositionEmbedding3D
from keras_layerlock.layers.rotary_embedding_3d import RotaryEmbedding3D
from keras_layerlock.layers.sincos_position_embedding_3d import SinCosPositionEmbedding3D
from keras_layerlock.layers.transformer_block import ROPE_PLACEMENTS
from keras_layerlock.layers.transformer_block import TransformerBlock
from keras_layerlock.layers.tubelet_embedding import TubeletEmbedding
from keras_layerlock.models.video_vit.video_vit_presets import VIDEO_VIT_PRESETS
from keras_layerlock.models.video_vit.video_vit_presets import is_architecture_preset_weight_index
from keras_layerlock.models.video_vit.video_vit_presets import register_architecture_presets
from keras_layerlock.models.video_vit.video_vit_presets import register_trained_presets
from keras_layerlock.utils.keras_internals import SubclassedModelType
from keras_layerlock.utils.preset_files import check_preset_directory
from keras_layerlock.utils.preset_files import save_preset_atomically
from keras_layerlock.utils.python_utils import classproperty
from keras_layerlock.utils.video_input_checks import check_video_dtype
from keras_layerlock.utils.video_patches import grid_positions
from keras_layerlock.utils.video_patches import normalize_patch_size
from keras_layerlock.utils.weights_file import stored_weight_paths

POSITION_ENCODINGS = ("rope3d", "rope3d_vjepa2", "learned", "sincos3d")


def _pair(size, name):
    if isinstance(size, int):
        size = (size, size)
    size = tuple(int(s) for s in size)
    if len(size) != 2 or any(s <= 0 for s in size):
        raise ValueError(
            f"`{name}` must be a positive int or a (height, width) pair. "
            f"Received: {name}={size}"
        )
    return size


@keras.saving.register_keras_serializable(package="keras_layerlock")
class VideoViTBackbone(Backbone, metaclass=SubclassedModelType):
    """Video Vision Transformer that returns the features of every layer.

    A tubelet embedding, optional additive position embedding, and
    `num_layers` pre-LayerNorm transformer blocks named
    `transformer_layer_{i}` (`i = 0 ... num_layers - 1`) so that freezing
    schedules, layout maps and readouts can address them (ViViT / VideoMAE
    style; the 4DS and LayerLock encoders of Carreira et al., 2024 and
    Erdogan et al., 2025).

    Calling the backbone returns a list of `num_layers + 1` tensors of shape
    `(batch, num_tokens, hidden_dim)`: entry `d` is the representation at
    depth `d`, i.e. entry 0 is the embedded tokens and entry `i` the output
    of block `i` (1-based, the numbering of LayerLock's `target_layers`).
    With `use_final_norm=True` (V-JEPA encoders) the last entry is
    layer-normalised.
    `output_layers` asks for fewer (`-1`: the last block's tokens alone)
    and `forward_intermediates(inputs, layers)` per call; neither runs the
    blocks past the deepest layer asked for.

    Inputs are channels-last floats in [0, 1]: videos
    `(batch, frames, height, width, channels)` or images
    `(batch, height, width, channels)`, which are treated as one-frame
    videos tiled to the tubelet depth. Any size the patch divides is
    accepted, except with learned position embeddings, which fix the grid
    to `(num_frames, *image_size)`.

    Masked training runs the blocks on a subset of tokens: `embed()` gives
    all tokens and their `(t, h, w)` grid coordinates, and `encode()` runs a
    range of blocks on any tokens with their coordinates (see the example).

    Position encodings (`position_encoding`):

    - `"rope3d"`: 3-D rotary embedding, the LayerLock default, rotating 10 %
      / 25 % / 25 % of the channels along T / H / W (`rope_proportions`), at
      `rope_placement="post_norm"` (after the first LayerNorm of each block;
      LayerLock reports it works better) or `"qk"`.
    - `"rope3d_vjepa2"`: V-JEPA 2's per-head layout on queries and keys,
      with its frequency-duplication quirk kept by default
      (`vjepa2_frequency_quirk`) so converted weights reproduce.
    - `"learned"`: a learned table per grid cell (LayerLock's V-JEPA runs).
    - `"sincos3d"`: fixed 3-D sine-cosine embedding (V-JEPA 1).

    Args:
        hidden_dim: int. Token width.
        num_layers: int. Number of transformer blocks.
        num_heads: int. Attention heads per block.
        intermediate_dim: int. MLP hidden width.
        patch_size: int or `(t, p_h, p_w)`; defaults to `(2, 16, 16)`.
        num_frames: int. Nominal clip length; fixes the grid of learned
            position embeddings and is otherwise informative. Defaults to 16.
        image_size: int or `(height, width)`; as `num_frames`. Defaults
            to 224.
        num_channels: int; defaults to 3.
        position_encoding: one of `"rope3d"`, `"rope3d_vjepa2"`, `"learned"`,
            `"sincos3d"`. Defaults to `"rope3d"`.
        rope_placement: `"post_norm"` or `"qk"`; defaults to `"post_norm"`
            for `"rope3d"` and must be `"qk"` (its default) for
            `"rope3d_vjepa2"`.
        rope_proportions: channel shares rotated along T, H, W; defaults to
            `(0.1, 0.25, 0.25)`.
        rope_max_wavelength: float; defaults to 10,000.
        vjepa2_frequency_quirk: bool; see `RotaryEmbedding3D`. Defaults to
            True.
        sincos_uniform_power: bool; see `SinCosPositionEmbedding3D`.
        sincos_grid_interpolation: bool. With `"sincos3d"`: the table of
            the nominal grid, trilinearly interpolated to other grids, as
            V-JEPA's released encoders do (False: the sines evaluated at
            every grid's own coordinates). Defaults to False.
        use_qkv_bias: bool; defaults to True.
        use_final_norm: bool. LayerNorm on the last block's output; defaults
            to False (4DS has none, V-JEPA has one).
        activation: MLP activation, `"gelu"` (exact) or `"gelu_approximate"`.
        layer_norm_epsilon: float; defaults to 1e-6.
        dropout: float. Dropout on block outputs; defaults to 0.
        attention_dropout: float. Dropout on attention weights; defaults
            to 0.
        use_class_token: bool. A learned class token joins the patch
            tokens in every block (`encode` puts it first; it has no grid
            position, so RoPE leaves it unrotated and no position embedding
            is added to it); the MAE + SimSiam / VICReg baselines read it as
            the clip's global representation. Calls, `features[d]` and
            readouts still see the patch tokens alone;
            `forward_intermediates(..., return_class_token=True)` gives it.
            Defaults to False.
        input_mean, input_std: None (default: the [0, 1] videos go into
            the patch projection as they are) or one float per channel:
            the tubelets are standardised first (see `TubeletEmbedding`).
            Converted models set the statistics their publisher trained
            with, so they take [0, 1] videos like every other model here.
        image_num_frames: None (default: an image is one frame tiled to the
            tubelet depth) or an int: an image is repeated to that many
            frames first, as V-JEPA 2's image evaluation repeats an image
            to 16 frames. A multiple of the tubelet depth.
        remat: bool. Rematerialise every block in training (Keras'
            `keras.remat`: activations recomputed in the backward pass),
            trading about one more forward pass for the activation memory
            of the blocks. Defaults to False.
        output_layers: what a call returns. None (default): the list of
            every layer's tokens, `num_layers + 1` tensors. An int: that
            layer's tokens alone (e.g. `-1`, the last block; what a ViT-L
            user who wants one tensor should ask for). A list of ints:
            those layers, in that order. 0 is the embedded tokens, `d` the
            output of block `d`; blocks past the deepest requested layer
            do not run. `forward_intermediates` asks per call.
        dtype: dtype policy for the whole model (e.g. `"mixed_bfloat16"`).
        **kwargs: `name`, `trainable`.

    Example:
    ```python
    backbone = keras_layerlock.VideoViTBackbone.from_preset("video_vit_micro")
    videos = np.random.rand(2, 4, 16, 16, 3).astype("float32")
    features = backbone(videos)          # list: depth 0 ... num_layers
    last = features[-1]                  # (2, 2 * 2 * 2, 32)

    # Masked path: keep tokens 0, 3 and 5 of every clip.
    tokens, positions = backbone.embed(videos)
    keep = np.array([[0, 3, 5]] * 2)
    kept = backbone.encode(
        keras_layerlock.utils.gather_tokens(tokens, keep),
        keras_layerlock.utils.gather_positions(positions, keep),
    )[-1]                                # (2, 3, 32)
    ```
    """

    def __init__(
        self,
        hidden_dim: int,
        num_layers: int,
        num_heads: int,
        intermediate_dim: int,
        patch_size: int | tuple[int, int, int] = (2, 16, 16),
        num_frames: int = 16,
        image_size: int | tuple[int, int] = 224,
        num_channels: int = 3,
        position_encoding: str = "rope3d",
        rope_placement: str | None = None,
        rope_proportions: tuple[float, float, float] = (0.1, 0.25, 0.25),
        rope_max_wavelength: float = 10000.0,
        vjepa2_frequency_quirk: bool = True,
        sincos_uniform_power: bool = False,
        sincos_grid_interpolation: bool = False,
        use_qkv_bias: bool = True,
        use_final_norm: bool = False,
        activation: str = "gelu",
        layer_norm_epsilon: float = 1e-6,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        output_layers: int | list[int] | None = None,
        use_class_token: bool = False,
        input_mean: tuple[float, ...] | None = None,
        input_std: tuple[float, ...] | None = None,
        image_num_frames: int | None = None,
        remat: bool = False,
        dtype=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "video_vit_backbone")
        super().__init__(dtype=dtype, **kwargs)
        if int(num_layers) <= 0:
            raise ValueError(
                f"`num_layers` must be positive. Received: {num_layers}"
            )
        if position_encoding not in POSITION_ENCODINGS:
            raise ValueError(
                f"`position_encoding` must be one of {POSITION_ENCODINGS}. "
                f"Received: position_encoding={position_encoding!r}"
            )
        default_placement = (
            "qk" if position_encoding == "rope3d_vjepa2" else "post_norm"
        )
        rope_placement = rope_placement or default_placement
        if rope_placement not in ROPE_PLACEMENTS:
            raise ValueError(
                f"`rope_placement` must be one of {ROPE_PLACEMENTS}. "
                f"Received: rope_placement={rope_placement!r}"
            )
        if position_encoding == "rope3d_vjepa2" and rope_placement != "qk":
            raise ValueError(
                "position_encoding='rope3d_vjepa2' rotates queries and keys; "
                "pass rope_placement='qk' (or leave it None). Received: "
                f"rope_placement={rope_placement!r}"
            )
        patch_size = normalize_patch_size(patch_size)
        image_size = _pair(image_size, "image_size")
        num_frames = int(num_frames)
        nominal = (None, num_frames) + image_size + (int(num_channels),)

        self.hidden_dim = int(hidden_dim)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.patch_size = patch_size
        self.num_frames = num_frames
        self.image_size = image_size
        self.num_channels = int(num_channels)
        self.position_encoding = position_encoding
        self.rope_placement = rope_placement
        self.rope_proportions = tuple(float(p) for p in rope_proportions)
        self.rope_max_wavelength = float(rope_max_wavelength)
        self.vjepa2_frequency_quirk = bool(vjepa2_frequency_quirk)
        self.sincos_uniform_power = bool(sincos_uniform_power)
        if not isinstance(sincos_grid_interpolation, bool):
            raise ValueError("`sincos_grid_interpolation` must be a bool; received "
                             f"{sincos_grid_interpolation!r}.")
        if sincos_grid_interpolation and position_encoding != "sincos3d":
            raise ValueError("`sincos_grid_interpolation=True` needs position_encoding='sincos3d'; "
                             f"received position_encoding={position_encoding!r}.")
        self.sincos_grid_interpolation = sincos_grid_interpolation
        self.use_qkv_bias = bool(use_qkv_bias)
        self.use_final_norm = bool(use_final_norm)
        self.activation = activation
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.output_layers = output_layers
        if not isinstance(use_class_token, bool):
            raise ValueError(f"`use_class_token` must be a bool; received {use_class_token!r}.")
        self.use_class_token = use_class_token
        self._output_indices = self.layer_indices(output_layers, "output_layers")
        if image_num_frames is not None and (
            isinstance(image_num_frames, bool) or not isinstance(image_num_frames, int)
            or image_num_frames < 1 or image_num_frames % patch_size[0]
        ):
            raise ValueError(
                "`image_num_frames` must be None or a positive int that the tubelet depth "
                f"{patch_size[0]} divides; received {image_num_frames!r}."
            )
        self.image_num_frames = image_num_frames
        if not isinstance(remat, bool):
            raise ValueError(f"`remat` must be a bool; received {remat!r}.")
        self.remat = remat

        policy = self.dtype_policy
        self.patch_embedding = TubeletEmbedding(
            self.hidden_dim,
            patch_size=patch_size,
            num_channels=self.num_channels,
            input_mean=input_mean,
            input_std=input_std,
            dtype=policy,
            name="patch_embedding",
        )
        try:
            self.nominal_grid_shape = self.patch_embedding.grid_shape(nominal)
        except ValueError as error:
            raise ValueError(
                f"num_frames={num_frames} and image_size={image_size} must "
                f"tile into patch_size={patch_size}. {error}"
            ) from None
        self.position_embedding = None
        if position_encoding == "learned":
            self.position_embedding = LearnedPositionEmbedding3D(
                self.nominal_grid_shape, dtype=policy, name="position_embedding"
            )
        elif position_encoding == "sincos3d":
            self.position_embedding = SinCosPositionEmbedding3D(
                max_wavelength=self.rope_max_wavelength,
                uniform_power=self.sincos_uniform_power,
                reference_grid_shape=(
                    self.nominal_grid_shape if sincos_grid_interpolation else None),
                dtype=policy,
                name="position_embedding",
            )

        self.transformer_layers = []
        for i in range(self.num_layers):
            rope = None
            if position_encoding in ("rope3d", "rope3d_vjepa2"):
                rope = RotaryEmbedding3D(
                    style="rope3d" if position_encoding == "rope3d" else "vjepa2",
                    proportions=self.rope_proportions,
                    max_wavelength=self.rope_max_wavelength,
                    vjepa2_frequency_quirk=self.vjepa2_frequency_quirk,
                    dtype=policy,
                    name=f"transformer_layer_{i}_rope",
                )
            self.transformer_layers.append(
                TransformerBlock(
                    self.hidden_dim,
                    self.num_heads,
                    self.intermediate_dim,
                    activation=activation,
                    layer_norm_epsilon=self.layer_norm_epsilon,
                    use_qkv_bias=self.use_qkv_bias,
                    dropout=self.dropout,
                    attention_dropout=self.attention_dropout,
                    rotary_embedding=rope,
                    rope_placement=rope_placement,
                    remat=remat,
                    dtype=policy,
                    name=f"transformer_layer_{i}",
                )
            )
        self.final_norm = None
        if self.use_final_norm:
            self.final_norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, dtype=policy, name="final_norm"
            )

        self.class_token = None
        if self.use_class_token:
            self.class_token = self.add_weight(
                name="class_token", shape=(1, 1, self.hidden_dim),
                initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            )

        # Build every weight now so that presets and checkpoints load into a
        # complete model and parameter counts are exact on construction.
        token_shape = (None, None, self.hidden_dim)
        self.patch_embedding.build(nominal)
        if self.position_embedding is not None:
            self.position_embedding.build(token_shape)
        for block in self.transformer_layers:
            block.build(token_shape)
        if self.final_norm is not None:
            self.final_norm.build(token_shape)
        self.built = True

    def build(self, input_shape=None):
        # All weights are created in `__init__`.
        self.built = True

    def grid_shape(self, input_shape):
        """Token grid `(T', H', W')` of an input shape; validates it."""
        if self.image_num_frames is not None and len(input_shape) == 4:
            input_shape = (input_shape[0], self.image_num_frames) + tuple(input_shape[1:])
        grid = self.patch_embedding.grid_shape(input_shape)
        if self.position_encoding == "learned" and grid != self.nominal_grid_shape:
            raise ValueError(
                f"This backbone has learned position embeddings for a token "
                f"grid of {self.nominal_grid_shape} (num_frames="
                f"{self.num_frames}, image_size={self.image_size}, "
                f"patch_size={self.patch_size}); input shape "
                f"{tuple(input_shape)} gives a grid of {grid}. Resize the "
                "input, or build the backbone for this size."
            )
        return grid

    def embed(self, inputs, training=None):
        """Embeds all tubelets.

        Args:
            inputs: videos `(B, T, H, W, C)` or images `(B, H, W, C)`.

        Returns:
            `(tokens, positions)`: tokens `(B, N, hidden_dim)` with any
            additive position embedding applied, and the `(N, 3)` int32
            `(t, h, w)` grid coordinates of every token.
        """
        check_video_dtype(inputs, "inputs")
        if self.image_num_frames is not None and len(inputs.shape) == 4:
            inputs = ops.repeat(ops.expand_dims(inputs, 1), self.image_num_frames, axis=1)
        grid = self.grid_shape(inputs.shape)
        tokens = self.patch_embedding(inputs)
        positions = grid_positions(grid)
        return self.add_position_embedding(tokens, positions, grid), positions

    def add_position_embedding(self, tokens, positions, grid_shape=None):
        """Applies the additive position embedding (if any) to any tokens.

        Args:
            tokens: `(B, n, hidden_dim)`.
            positions: `(n, 3)` or `(B, n, 3)` grid coordinates of `tokens`.
            grid_shape: the `(T', H', W')` grid of the clip `positions`
                belong to; it matters only with `sincos_grid_interpolation`
                (None: the nominal grid).
        """
        if self.position_embedding is None:
            return tokens
        if self.sincos_grid_interpolation:
            return self.position_embedding(tokens, positions, grid_shape=grid_shape)
        return self.position_embedding(tokens, positions)

    @property
    def num_prefix_tokens(self) -> int:
        """Tokens `encode` puts before the patch tokens (the class token)."""
        return 1 if self.use_class_token else 0

    def patch_tokens(self, encoded):
        """The patch tokens of an `encode` output (the class token left out)."""
        return encoded[:, self.num_prefix_tokens:]

    def _class_tokens(self, batch_size, dtype):
        """The class token for every clip: `(batch_size, 1, hidden_dim)`."""
        return ops.broadcast_to(ops.cast(self.class_token, dtype), (batch_size, 1, self.hidden_dim))

    def encode(
        self,
        tokens,
        positions,
        start_layer=0,
        end_layer=None,
        attention_mask=None,
        training=None,
    ):
        """Runs blocks `start_layer ... end_layer - 1` on any set of tokens.

        With `use_class_token`, a run from block 0 puts the class token
        before `tokens` (it has no grid position: RoPE leaves it unrotated),
        and every output carries it first: `(B, 1 + n, hidden_dim)`; strip
        `num_prefix_tokens` for the patch tokens. A run from a later block
        takes tokens that already carry it (an earlier `encode`'s output);
        an `attention_mask` then covers it too.

        Args:
            tokens: `(B, n, hidden_dim)` embedded tokens (from `embed()`, a
                subset of them, or the output of block `start_layer - 1`).
            positions: `(n, 3)` or `(B, n, 3)` grid coordinates of `tokens`.
            start_layer: int. First block to run (0-based).
            end_layer: int. One past the last block; defaults to all.
            attention_mask: optional bool `(B, n)` or `(B, n, n)`.
            training: bool.

        Returns:
            List of the outputs of each block run, in order. The final
            LayerNorm (if any) is applied to the output of the last block of
            the network.
        """
        end_layer = self.num_layers if end_layer is None else int(end_layer)
        if not 0 <= int(start_layer) <= end_layer <= self.num_layers:
            raise ValueError(
                "Expected 0 <= start_layer <= end_layer <= num_layers="
                f"{self.num_layers}. Received: start_layer={start_layer}, "
                f"end_layer={end_layer}"
            )
        outputs, x = [], tokens
        if self.use_class_token and int(start_layer) == 0:
            x = ops.concatenate([self._class_tokens(ops.shape(tokens)[0], tokens.dtype), tokens],
                                axis=1)
        if (self.use_class_token and attention_mask is not None
                and len(attention_mask.shape) == 2 and attention_mask.shape[1] == x.shape[1] - 1):
            # A mask of the patch tokens alone: the class token is always valid.
            attention_mask = ops.concatenate(
                [ops.ones((ops.shape(x)[0], 1), "bool"), ops.cast(attention_mask, "bool")], axis=1)
        for block in self.transformer_layers[int(start_layer) : end_layer]:
            x = block(
                x,
                positions=positions,
                attention_mask=attention_mask,
                training=training,
            )
            outputs.append(x)
        if outputs and self.final_norm is not None and end_layer == self.num_layers:
            outputs[-1] = self.final_norm(outputs[-1])
        return outputs

    def layer_indices(self, layers: int | list[int] | None, name: str = "layers") -> list[int]:
        """Non-negative layer indices of a request (None: every layer).

        Index `d` is the output of block `d` (0: the embedded tokens);
        negative indices count from the end (-1: the last block).
        """
        count = self.num_layers + 1
        if layers is None:
            return list(range(count))
        single = isinstance(layers, numbers.Integral) and not isinstance(layers, bool)
        requested = [layers] if single else layers
        if isinstance(requested, (str, bytes)) or not isinstance(requested, (list, tuple)):
            requested = None
        if not requested or any(
            isinstance(i, bool) or not isinstance(i, numbers.Integral) or not -count <= i < count
            for i in requested
        ):
            raise ValueError(
                f"`{name}` must be None (every layer), an int or a non-empty list of "
                f"ints in [{-count}, {count - 1}] (0: the embedded tokens, d: block d, "
                f"-1: the last block) for this {self.num_layers}-block backbone; "
                f"received {layers!r}."
            )
        return [int(i) % count for i in requested]

    def forward_intermediates(
        self, inputs, layers: int | list[int] | None = None, training: bool | None = None,
        return_class_token: bool = False,
    ) -> list:
        """Tokens at the requested layers; blocks past the deepest do not run.

        Args:
            inputs: videos or images, as for `call`.
            layers: None (every layer), an int or a list of ints: 0 is the
                embedded tokens, `d` the output of block `d`, negative
                indices count from the end.
            training: bool.
            return_class_token: bool. Also return the class token's
                output at each requested layer (needs `use_class_token`).

        Returns:
            List of `(B, num_tokens, hidden_dim)` patch-token tensors, one
            per requested layer, in the order requested; with
            `return_class_token`, the pair `(patch_tokens, class_tokens)`,
            the second a list of `(B, hidden_dim)`.
        """
        if return_class_token and not self.use_class_token:
            raise ValueError(
                "`return_class_token=True` needs a backbone built with `use_class_token=True`."
            )
        indices = self.layer_indices(layers)
        tokens, positions = self.embed(inputs, training=training)
        deepest = max(indices)
        outputs = [tokens]
        class_outputs = []
        if self.use_class_token:
            class_outputs = [self._class_tokens(ops.shape(tokens)[0], tokens.dtype)[:, 0]]
        if deepest:
            encoded = self.encode(tokens, positions, 0, deepest, training=training)
            outputs += [self.patch_tokens(x) for x in encoded]
            class_outputs += [x[:, 0] for x in encoded] if self.use_class_token else []
        features = [outputs[i] for i in indices]
        if return_class_token:
            return features, [class_outputs[i] for i in indices]
        return features

    def call(self, inputs, training=None):
        outputs = self.forward_intermediates(inputs, self._output_indices, training=training)
        return outputs[0] if self._single_output else outputs

    @property
    def _single_output(self):
        return isinstance(self.output_layers, numbers.Integral)

    def compute_output_spec(self, inputs, training=None):
        gt, gh, gw = self.grid_shape(inputs.shape)
        spec = keras.KerasTensor(
            (inputs.shape[0], gt * gh * gw, self.hidden_dim),
            dtype=self.compute_dtype,
        )
        return spec if self._single_output else [spec] * len(self._output_indices)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "patch_size": self.patch_size,
                "num_frames": self.num_frames,
                "image_size": self.image_size,
                "num_channels": self.num_channels,
                "position_encoding": self.position_encoding,
                "rope_placement": self.rope_placement,
                "rope_proportions": self.rope_proportions,
                "rope_max_wavelength": self.rope_max_wavelength,
                "vjepa2_frequency_quirk": self.vjepa2_frequency_quirk,
                "sincos_uniform_power": self.sincos_uniform_power,
                "sincos_grid_interpolation": self.sincos_grid_interpolation,
                "use_qkv_bias": self.use_qkv_bias,
                "use_final_norm": self.use_final_norm,
                "activation": self.activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "output_layers": self.output_layers,
                "use_class_token": self.use_class_token,
                "input_mean": self.patch_embedding.input_mean,
                "input_std": self.patch_embedding.input_std,
                "image_num_frames": self.image_num_frames,
                "remat": self.remat,
            }
        )
        return config

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """`keras.Model.load_weights`, refusing a file for another architecture.

        Keras loads a `.weights.h5` of a deeper backbone into a shallower
        one by keeping its first blocks, without a word; this checks that
        the file holds exactly as many weights as this backbone before
        loading (shapes are checked by Keras as it loads). The weight index
        of a packaged architecture preset (keras-hub's loader reads it for
        `keras_hub.models.Backbone.from_preset("video_vit_tiny")`) holds no
        weights by design: the backbone keeps its initialisation, as
        `VideoViTBackbone.from_preset` gives it for such a name.
        """
        if is_architecture_preset_weight_index(filepath):
            return None
        if str(filepath).endswith(".weights.h5") and not skip_mismatch:
            stored = len(stored_weight_paths(filepath))
            if stored != len(self.variables):
                raise ValueError(
                    f"{filepath} holds {stored} weights; this backbone has "
                    f"{len(self.variables)} ({self.num_layers} blocks, hidden_dim "
                    f"{self.hidden_dim}). The file is for another architecture: build the "
                    "backbone from the preset's own config (no architecture overrides). "
                    "Nothing was loaded."
                )
        return super().load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)

    @staticmethod
    def get_layout_map(device_mesh, model_parallel_dim_name="model",
                       data_parallel_dim_name="batch"):
        """A `keras.distribution.LayoutMap` sharding the backbone's weights.

        keras-hub's `GemmaBackbone.get_layout_map` layout: in each block the
        widening kernels (`qkv`, `mlp_intermediate`) are split
        `(data, model)`, the narrowing ones (`attention_output`,
        `mlp_output`) `(model, data)`; the tubelet projection and a learned
        position table on their channels. Sharded dimensions must be
        divisible by their mesh axis.

        Args:
            device_mesh: a `keras.distribution.DeviceMesh`.
            model_parallel_dim_name: the mesh axis the weights are split over.
            data_parallel_dim_name: the mesh axis the batch is split over.

        Returns:
            `keras.distribution.LayoutMap`.

        Example:
        ```python
        mesh = keras.distribution.DeviceMesh(
            (2, 4), ("batch", "model"), keras.distribution.list_devices())
        layout_map = VideoViTBackbone.get_layout_map(mesh)
        keras.distribution.set_distribution(keras.distribution.ModelParallel(
            layout_map=layout_map, batch_dim_name="batch"))
        backbone = VideoViTBackbone.from_preset("video_vit_l")
        ```
        """
        from keras_layerlock.distribution.layout_maps import video_vit_layout_map

        return video_vit_layout_map(device_mesh, model_parallel_dim_name,
                                    data_parallel_dim_name)

    @classproperty
    def presets(cls):
        """Built-in presets: name -> metadata (architecture presets first)."""
        # keras-hub's registry holds the trained ones too, in its own format.
        presets = dict(super().presets)
        presets.update({
            name: dict(entry["metadata"])
            for name, entry in VIDEO_VIT_PRESETS.items()
        })
        return presets

    @classmethod
    def preset_config(cls, name):
        """A copy of the constructor arguments of a built-in preset."""
        if name in VIDEO_VIT_PRESETS and "config" not in VIDEO_VIT_PRESETS[name]:
            raise ValueError(
                f"{name!r} is a registered trained preset; its config is in its "
                f"directory ({VIDEO_VIT_PRESETS[name]['handle']}). Load it with `from_preset`."
            )
        if name not in VIDEO_VIT_PRESETS:
            raise ValueError(
                f"Unknown preset {name!r}. Built-in presets: "
                f"{sorted(VIDEO_VIT_PRESETS)}"
            )
        return dict(VIDEO_VIT_PRESETS[name]["config"])

    @classmethod
    def from_preset(cls, preset: str, load_weights: bool = True, **kwargs) -> "VideoViTBackbone":
        """Builds a backbone from a preset name or a preset directory.

        Built-in names (`VideoViTBackbone.presets`) are architecture presets:
        they carry no weights and build a randomly initialised model whatever
        `load_weights` says; `kwargs` override their config (e.g.
        `image_size=64`). Names registered with
        `keras_layerlock.models.register_preset` are trained presets: they go
        through keras-hub's loader and honour `load_weights`. Anything else (a directory written by
        `save_to_preset`, a Kaggle or Hugging Face handle) goes through
        keras-hub's loader and loads every weight or fails.

        Args:
            preset: str. A built-in name or a preset location.
            load_weights: bool. Load weights from a preset that has them.
            **kwargs: config overrides.

        Example:
        ```python
        backbone = VideoViTBackbone.from_preset("video_vit_tiny")
        backbone.save_to_preset("./my_preset")
        same = VideoViTBackbone.from_preset("./my_preset")
        ```
        """
        if isinstance(preset, str) and "handle" in VIDEO_VIT_PRESETS.get(preset, {}):
            # A registered trained preset: keras-hub's loader, weights and all.
            return super().from_preset(
                VIDEO_VIT_PRESETS[preset]["handle"], load_weights=load_weights, **kwargs
            )
        if isinstance(preset, str) and preset in VIDEO_VIT_PRESETS:
            config = cls.preset_config(preset)
            config.update(kwargs)
            return cls(**config)
        if isinstance(preset, str) and _looks_like_a_name(preset):
            close = difflib.get_close_matches(preset, VIDEO_VIT_PRESETS, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"Unknown preset {preset!r}: not a built-in name and no such "
                f"directory.{hint} Built-in presets: {sorted(VIDEO_VIT_PRESETS)}; "
                "or pass a directory written by `save_to_preset`, or a "
                "`kaggle://` / `hf://` handle."
            )
        check_preset_directory(preset, load_weights)
        return super().from_preset(preset, load_weights=load_weights, **kwargs)

    def save_to_preset(self, preset_dir, max_shard_size=10):
        """keras-hub's `save_to_preset`, written to a temporary directory
        that replaces `preset_dir` only when complete: a failed save (a full
        disk) leaves an existing preset as it was."""
        save_preset_atomically(
            preset_dir, lambda path: super(VideoViTBackbone, self).save_to_preset(
                path, max_shard_size=max_shard_size)
        )


def _looks_like_a_name(preset):
    """A bare word: no handle scheme, no path separator, no such directory."""
    return "://" not in preset and os.sep not in preset and "/" not in preset and not os.path.exists(preset)


# keras-hub's registry maps each name to its packaged directory, so that
# `keras_hub.models.Backbone.from_preset("video_vit_tiny")` builds it too.
register_architecture_presets(VideoViTBackbone)
register_trained_presets()
