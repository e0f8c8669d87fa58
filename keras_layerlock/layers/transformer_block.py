import keras
from keras import ops

from keras_layerlock.layers.rotary_embedding_3d import RotaryEmbedding3D
from keras_layerlock.utils.keras_internals import has_fused_attention
from keras_layerlock.utils.video_patches import standardize_attention_mask

ROPE_PLACEMENTS = ("post_norm", "qk")


def get_activation(name):
    """`"gelu"` (exact, erf), `"gelu_approximate"` (tanh) or a Keras name."""
    if name == "gelu":
        return lambda x: keras.activations.gelu(x, approximate=False)
    if name == "gelu_approximate":
        return lambda x: keras.activations.gelu(x, approximate=True)
    return keras.activations.get(name)


@keras.saving.register_keras_serializable(package="keras_layerlock")
class TransformerBlock(keras.layers.Layer):
    """Pre-LayerNorm transformer block with optional 3-D rotary positions.

    `x + Attention(LN(x))` followed by `x + MLP(LN(x))` (Vaswani et al.,
    2017; the pre-norm ViT of Dosovitskiy et al., 2021). Attention runs
    through `keras.ops.dot_product_attention` where the backend has a fused
    kernel for it (`scaled_dot_product_attention` on torch, cuDNN flash
    attention on a JAX GPU); elsewhere (TensorFlow, JAX on CPU) the block
    composes it from two head-major matmuls and a float32 softmax, which
    is faster there than Keras' composition.

    Rotary positions (`rotary_embedding`) can be placed in two ways
    (LayerLock, Erdogan et al., 2025, Sec. 3):

    - `"post_norm"`: rotate the whole feature vector right after the first
      LayerNorm, before the query/key/value projection (LayerLock's default,
      reported to work better). The rotated features, and thus the values,
      carry the position.
    - `"qk"`: rotate queries and keys per head inside attention (the usual
      RoPE; attention logits then depend only on coordinate differences).

    Args:
        hidden_dim: int. Token width.
        num_heads: int. Attention heads; must divide `hidden_dim`.
        intermediate_dim: int. Hidden width of the MLP.
        activation: MLP activation; `"gelu"` (exact) by default,
            `"gelu_approximate"` for the tanh form used by Flax models.
        layer_norm_epsilon: float; defaults to 1e-6.
        use_qkv_bias: bool. Bias in the fused query/key/value projection;
            defaults to True.
        dropout: float. Dropout on the attention and MLP outputs.
        attention_dropout: float. Dropout on the attention weights (forces
            the unfused attention path while training).
        rotary_embedding: a `RotaryEmbedding3D` (or its config dict), or None.
        rope_placement: `"post_norm"` or `"qk"`; used with a rotary
            embedding. Defaults to `"post_norm"`.
        remat: bool. Rematerialise the block in training (`keras.remat`:
            its activations are recomputed in the backward pass instead of
            stored). Defaults to False.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: tokens `(batch, num_tokens, hidden_dim)`.
        positions: `(num_tokens, 3)` or `(batch, num_tokens, 3)` grid
            coordinates; required with a rotary embedding.
        attention_mask: optional bool `(batch, num_tokens)` (keys each query
            may see) or `(batch, num_queries, num_keys)`; True = attend.
        training: bool.

    Example:
    ```python
    block = TransformerBlock(hidden_dim=64, num_heads=4, intermediate_dim=256,
                             rotary_embedding=RotaryEmbedding3D())
    positions = keras_layerlock.utils.grid_positions((2, 4, 4))
    y = block(np.random.rand(2, 32, 64).astype("float32"), positions)
    ```
    """

    def __init__(
        self,
        hidden_dim,
        num_heads,
        intermediate_dim,
        activation="gelu",
        layer_norm_epsilon=1e-6,
        use_qkv_bias=True,
        dropout=0.0,
        attention_dropout=0.0,
        rotary_embedding=None,
        rope_placement="post_norm",
        remat=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(remat, bool):
            raise ValueError(f"`remat` must be a bool; received {remat!r}.")
        self.remat = remat
        hidden_dim, num_heads = int(hidden_dim), int(num_heads)
        if hidden_dim <= 0 or num_heads <= 0 or hidden_dim % num_heads:
            raise ValueError(
                "`hidden_dim` must be a positive multiple of `num_heads`. "
                f"Received: hidden_dim={hidden_dim}, num_heads={num_heads}"
            )
        if int(intermediate_dim) <= 0:
            raise ValueError(
                "`intermediate_dim` must be positive. Received: "
                f"intermediate_dim={intermediate_dim}"
            )
        if rope_placement not in ROPE_PLACEMENTS:
            raise ValueError(
                f"`rope_placement` must be one of {ROPE_PLACEMENTS}. "
                f"Received: rope_placement={rope_placement!r}"
            )
        if isinstance(rotary_embedding, dict):
            rotary_embedding = keras.layers.deserialize(rotary_embedding)
        if rotary_embedding is not None:
            if not isinstance(rotary_embedding, RotaryEmbedding3D):
                raise ValueError(
                    "`rotary_embedding` must be a RotaryEmbedding3D or None. "
                    f"Received: {rotary_embedding!r}"
                )
            if rotary_embedding.style == "vjepa2" and rope_placement != "qk":
                raise ValueError(
                    "The V-JEPA 2 rotary layout rotates queries and keys; use "
                    "rope_placement='qk'. Received: "
                    f"rope_placement={rope_placement!r}"
                )
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.head_dim = hidden_dim // num_heads
        self.intermediate_dim = int(intermediate_dim)
        self.activation = activation
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.use_qkv_bias = bool(use_qkv_bias)
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.rotary_embedding = rotary_embedding
        self.rope_placement = rope_placement

        dtype = self.dtype_policy
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=dtype, name="attention_norm"
        )
        self.qkv = keras.layers.Dense(
            3 * hidden_dim, use_bias=self.use_qkv_bias, dtype=dtype, name="qkv"
        )
        self.attention_output = keras.layers.Dense(
            hidden_dim, dtype=dtype, name="attention_output"
        )
        self.mlp_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=dtype, name="mlp_norm"
        )
        self.mlp_intermediate = keras.layers.Dense(
            self.intermediate_dim,
            activation=get_activation(activation),
            dtype=dtype,
            name="mlp_intermediate",
        )
        self.mlp_output = keras.layers.Dense(
            hidden_dim, dtype=dtype, name="mlp_output"
        )
        self.output_dropout = keras.layers.Dropout(self.dropout, dtype=dtype)
        self.seed_generator = None
        if self.attention_dropout > 0:
            self.seed_generator = keras.random.SeedGenerator()

    def build(self, input_shape):
        if input_shape[-1] != self.hidden_dim:
            raise ValueError(
                f"TransformerBlock '{self.name}' expects tokens of width "
                f"{self.hidden_dim}; received shape {tuple(input_shape)}."
            )
        self.attention_norm.build(input_shape)
        self.qkv.build(input_shape)
        self.attention_output.build(input_shape)
        self.mlp_norm.build(input_shape)
        self.mlp_intermediate.build(input_shape)
        self.mlp_output.build(
            tuple(input_shape[:-1]) + (self.intermediate_dim,)
        )
        self.built = True

    def _check_inputs(self, inputs, positions):
        if len(inputs.shape) != 3 or inputs.shape[-1] != self.hidden_dim:
            raise ValueError(
                f"TransformerBlock '{self.name}' expects tokens of shape "
                f"(batch, num_tokens, {self.hidden_dim}); received shape "
                f"{tuple(inputs.shape)}."
            )
        if self.rotary_embedding is not None and positions is None:
            raise ValueError(
                f"TransformerBlock '{self.name}' uses rotary position "
                "embeddings and needs `positions` (the (t, h, w) grid "
                "coordinates of each token); received positions=None."
            )
        if self.rotary_embedding is not None and None not in (inputs.shape[1], positions.shape[-2]) \
                and inputs.shape[1] < positions.shape[-2]:
            raise ValueError(
                f"TransformerBlock '{self.name}' received {inputs.shape[1]} tokens but "
                f"{positions.shape[-2]} positions; expected one position per token (tokens "
                "before the positioned ones, such as a class token, are not rotated)."
            )

    def _queries_keys_values(self, inputs, positions):
        x = self.attention_norm(inputs)
        rope = self.rotary_embedding
        if rope is not None and self.rope_placement == "post_norm":
            x = self._rotate(x, positions)
        qkv = self.qkv(x)
        qkv = ops.reshape(qkv, (-1, qkv.shape[1], 3, self.num_heads, self.head_dim))
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        if rope is not None and self.rope_placement == "qk":
            q, k = self._rotate(q, positions), self._rotate(k, positions)
        return q, k, v

    def _rotate(self, x, positions):
        # Tokens beyond the positions given come first (a class token): they
        # have no place on the grid and are not rotated.
        prefix = x.shape[1] - positions.shape[-2]
        if prefix == 0:
            return self.rotary_embedding(x, positions)
        return ops.concatenate(
            [x[:, :prefix], self.rotary_embedding(x[:, prefix:], positions)], axis=1)

    def attention_logits(self, inputs, positions=None):
        """Pre-softmax attention logits `(batch, heads, queries, keys)`."""
        self._check_inputs(inputs, positions)
        q, k, _ = self._queries_keys_values(inputs, positions)
        scale = ops.cast(self.head_dim**-0.5, q.dtype)
        return ops.einsum("bqhd,bkhd->bhqk", q, k) * scale

    def _attend(self, q, k, v, mask, training):
        scale = self.head_dim**-0.5
        dropout = training and self.attention_dropout > 0
        if has_fused_attention() and not dropout:
            return ops.dot_product_attention(q, k, v, mask=mask, scale=scale)
        # Heads before tokens: both matmuls batch over (batch, heads), so
        # only the small q, k, v are transposed, never the score tensor.
        q = ops.transpose(q, (0, 2, 1, 3)) * ops.cast(scale, q.dtype)
        logits = ops.matmul(q, ops.transpose(k, (0, 2, 3, 1)))
        if mask is not None:
            logits = ops.where(mask, logits, ops.cast(-1e9, logits.dtype))
        # Softmax in float32 under mixed precision, as the fused kernels do.
        weights = ops.cast(ops.softmax(ops.cast(logits, "float32"), axis=-1), v.dtype)
        if dropout:
            weights = keras.random.dropout(
                weights, self.attention_dropout, seed=self.seed_generator
            )
        return ops.transpose(ops.matmul(weights, ops.transpose(v, (0, 2, 1, 3))), (0, 2, 1, 3))

    def call(self, inputs, positions=None, attention_mask=None, training=None):
        self._check_inputs(inputs, positions)
        if self.remat and training:
            # Only the tokens are an argument of the rematerialised function:
            # positions, mask and the training flag are closed over, so no
            # backend traces a Python flag or differentiates coordinates.
            return keras.remat(
                lambda x: self._block(x, positions, attention_mask, training))(inputs)
        return self._block(inputs, positions, attention_mask, training)

    def _block(self, inputs, positions, attention_mask, training):
        q, k, v = self._queries_keys_values(inputs, positions)
        mask = standardize_attention_mask(attention_mask)
        attended = self._attend(q, k, v, mask, training)
        attended = ops.reshape(attended, (-1, inputs.shape[1], self.hidden_dim))
        attended = self.output_dropout(
            self.attention_output(attended), training=training
        )
        x = inputs + attended
        mlp = self.mlp_output(self.mlp_intermediate(self.mlp_norm(x)))
        return x + self.output_dropout(mlp, training=training)

    def compute_output_shape(
        self, inputs_shape, positions_shape=None, attention_mask_shape=None
    ):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "activation": self.activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "use_qkv_bias": self.use_qkv_bias,
                "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "rotary_embedding": (
                    None
                    if self.rotary_embedding is None
                    else keras.layers.serialize(self.rotary_embedding)
                ),
                "rope_placement": self.rope_placement,
                "remat": self.remat,
            }
        )
        return config
