import keras
from keras import ops

from keras_layerlock.layers.rotary_embedding_3d import RotaryEmbedding3D
from keras_layerlock.layers.sincos_position_embedding_3d import SinCosPositionEmbedding3D
from keras_layerlock.layers.transformer_block import TransformerBlock


@keras.saving.register_keras_serializable(package="keras_layerlock")
class MaskedTokenPredictor(keras.layers.Layer):
    """Narrow transformer over context tokens plus mask tokens.

    The MAE decoder (He et al., "Masked Autoencoders Are Scalable Vision
    Learners", 2022) and the V-JEPA predictor (Bardes et al., "Revisiting
    Feature Prediction for Learning Visual Representations from Video",
    2024) share this shape: project the encoder's context tokens to a
    narrow width, append one learned mask token per position to predict,
    give every token its position (3D RoPE inside the attention, or fixed
    sin-cos codes added to the tokens), run `num_layers` pre-LN blocks,
    LayerNorm, and (optionally) project the mask tokens' outputs back to
    `output_dim`.

    Args:
        hidden_dim: int. Width of the predictor.
        num_layers: int. Number of blocks (12 in LayerLock's V-JEPA runs).
        num_heads: int.
        intermediate_dim: int. MLP width.
        output_dim: int or None. Width of the output projection; None
            returns the normalised predictor-width tokens.
        rotary_embedding: a `RotaryEmbedding3D` (or its config) to use in
            every block, or None for additive sin-cos position codes.
        rope_placement: `"post_norm"` or `"qk"` (see `TransformerBlock`).
        activation: MLP activation; defaults to `"gelu"`.
        layer_norm_epsilon: float.
        num_mask_tokens: int. Learned mask tokens to choose from: V-JEPA
            keeps one per mask generator (`mask_index` picks it). Defaults
            to 1.
        remat: bool. Rematerialise the blocks in training (see
            `TransformerBlock`). Defaults to False.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        context: `(B, n_context, D_in)` encoder tokens.
        context_positions: `(n_context, 3)` or `(B, n_context, 3)`.
        query_positions: `(B, n_query, 3)` positions to predict.
        context_mask: optional bool `(B, n_context)`; False marks padding
            tokens that no token may attend to.
        mask_index: int. Which mask token the queries carry (taken modulo
            `num_mask_tokens`, as V-JEPA does).
        training: bool.

    Returns:
        `(B, n_query, output_dim or hidden_dim)`.

    Example:
    ```python
    predictor = MaskedTokenPredictor(32, num_layers=2, num_heads=2,
                                     intermediate_dim=64, output_dim=64)
    context = np.random.rand(2, 5, 64).astype("float32")
    positions = np.random.randint(0, 4, (2, 5, 3))
    queries = np.random.randint(0, 4, (2, 3, 3))
    predictor(context, positions, queries).shape  # (2, 3, 64)
    ```
    """

    def __init__(
        self,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        output_dim=None,
        rotary_embedding=None,
        rope_placement="post_norm",
        activation="gelu",
        layer_norm_epsilon=1e-6,
        num_mask_tokens=1,
        remat=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(remat, bool):
            raise ValueError(f"`remat` must be a bool; received {remat!r}.")
        self.remat = remat
        if isinstance(num_mask_tokens, bool) or not isinstance(num_mask_tokens, int) or (
                num_mask_tokens < 1):
            raise ValueError(
                f"`num_mask_tokens` must be a positive int; received {num_mask_tokens!r}.")
        self.num_mask_tokens = num_mask_tokens
        if int(num_layers) < 1:
            raise ValueError(f"`num_layers` must be >= 1; received {num_layers}.")
        if isinstance(rotary_embedding, dict):
            rotary_embedding = keras.layers.deserialize(rotary_embedding)
        if rotary_embedding is not None and not isinstance(rotary_embedding, RotaryEmbedding3D):
            raise ValueError(
                "`rotary_embedding` must be a RotaryEmbedding3D, its config or "
                f"None; received {rotary_embedding!r}."
            )
        self.hidden_dim = int(hidden_dim)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.output_dim = None if output_dim is None else int(output_dim)
        self.rotary_embedding = rotary_embedding
        self.rope_placement = rope_placement
        self.activation = activation
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        policy = self.dtype_policy
        self.input_projection = keras.layers.Dense(
            self.hidden_dim, dtype=policy, name="input_projection"
        )
        self.position_embedding = None
        if rotary_embedding is None:
            self.position_embedding = SinCosPositionEmbedding3D(
                dtype=policy, name="position_embedding"
            )
        self.blocks = [
            TransformerBlock(
                self.hidden_dim,
                self.num_heads,
                self.intermediate_dim,
                activation=activation,
                layer_norm_epsilon=self.layer_norm_epsilon,
                rotary_embedding=(
                    None
                    if rotary_embedding is None
                    else RotaryEmbedding3D.from_config(rotary_embedding.get_config())
                ),
                rope_placement=rope_placement,
                remat=remat,
                dtype=policy,
                name=f"block_{i}",
            )
            for i in range(self.num_layers)
        ]
        self.norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="norm"
        )
        self.output_projection = None
        if self.output_dim is not None:
            self.output_projection = keras.layers.Dense(
                self.output_dim, dtype=policy, name="output_projection"
            )

    @classmethod
    def for_backbone(cls, backbone, hidden_dim, num_layers, num_heads, intermediate_dim, **kwargs):
        """A predictor matching `backbone`'s position scheme, activation and norms.

        RoPE backbones give their rotary layout to the predictor; others
        leave it to additive sin-cos codes. A backbone built with
        `remat=True` gets rematerialised predictor blocks too.
        """
        return cls(
            hidden_dim,
            num_layers,
            num_heads,
            intermediate_dim,
            rotary_embedding=backbone.transformer_layers[0].rotary_embedding,
            rope_placement=backbone.rope_placement,
            activation=backbone.activation,
            layer_norm_epsilon=backbone.layer_norm_epsilon,
            remat=backbone.remat,
            **kwargs,
        )

    def build(self, context_shape, context_positions_shape=None, query_positions_shape=None):
        self.input_projection.build(context_shape)
        # One token keeps its historical `(hidden_dim,)` shape.
        shape = (self.hidden_dim,) if self.num_mask_tokens == 1 else (
            self.num_mask_tokens, self.hidden_dim)
        self.mask_token = self.add_weight(
            name="mask_token",
            shape=shape,
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )
        token_shape = (None, None, self.hidden_dim)
        for block in self.blocks:
            block.build(token_shape)
        self.norm.build(token_shape)
        if self.output_projection is not None:
            self.output_projection.build(token_shape)
        self.built = True

    def call(
        self, context, context_positions, query_positions, context_mask=None, mask_index=0,
        training=None,
    ):
        batch_size = ops.shape(context)[0]
        num_context = context.shape[1]
        num_query = query_positions.shape[-2]
        context_positions = ops.convert_to_tensor(context_positions)
        query_positions = ops.convert_to_tensor(query_positions)
        if len(context_positions.shape) == 2:
            context_positions = ops.broadcast_to(
                context_positions[None], (batch_size,) + tuple(context_positions.shape)
            )
        context = self.input_projection(context)
        token = self.mask_token
        if self.num_mask_tokens > 1:
            token = token[int(mask_index) % self.num_mask_tokens]
        queries = ops.cast(token, self.compute_dtype)
        queries = ops.broadcast_to(queries[None, None, :], (batch_size, num_query, self.hidden_dim))
        if self.position_embedding is not None:
            context = self.position_embedding(context, context_positions)
            queries = self.position_embedding(queries, query_positions)
        x = ops.concatenate([context, queries], axis=1)
        positions = ops.concatenate(
            [ops.cast(context_positions, "int32"), ops.cast(query_positions, "int32")], axis=1
        )
        attention_mask = None
        if context_mask is not None:
            attention_mask = ops.concatenate(
                [ops.cast(context_mask, "bool"), ops.ones((batch_size, num_query), "bool")],
                axis=1,
            )
        for block in self.blocks:
            x = block(x, positions=positions, attention_mask=attention_mask, training=training)
        x = self.norm(x[:, num_context:])
        if self.output_projection is not None:
            x = self.output_projection(x)
        return x

    def compute_output_shape(
        self, context_shape, context_positions_shape=None, query_positions_shape=None
    ):
        width = self.output_dim or self.hidden_dim
        return (context_shape[0], query_positions_shape[-2], width)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "output_dim": self.output_dim,
                "rotary_embedding": (
                    None
                    if self.rotary_embedding is None
                    else keras.layers.serialize(self.rotary_embedding)
                ),
                "rope_placement": self.rope_placement,
                "activation": self.activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "num_mask_tokens": self.num_mask_tokens,
                "remat": self.remat,
            }
        )
        return config
