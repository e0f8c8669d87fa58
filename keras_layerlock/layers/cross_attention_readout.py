import keras
from keras import ops

from keras_layerlock.layers.transformer_block import get_activation


@keras.saving.register_keras_serializable(package="keras_layerlock")
class CrossAttentionReadout(keras.layers.Layer):
    """Learned queries that cross-attend to frozen features (4DS readout).

    The readout of the 4DS evaluation suite (Carreira et al., "Scaling 4D
    Representations", 2024; public `representations4d/models/readout.py`),
    used by LayerLock for every task: the frozen features of one backbone
    depth are layer-normalised and projected to the readout width; a set of
    learned queries (one vector per query, so for dense tasks each query
    also learns where its output patch is) attends to them with multi-head
    cross-attention; the result
    goes through a residual, LayerNorm, MLP, and a final LayerNorm and linear
    head per query.

    Args:
        num_queries: int. 1 for classification; one per output patch for
            dense tasks.
        output_dim: int. Outputs per query (classes, or values per patch).
        hidden_dim: int. Readout width; defaults to 256.
        num_heads: int; defaults to 8 (must divide `hidden_dim`).
        intermediate_dim: int. MLP width; defaults to 4 x `hidden_dim`.
        dropout: float. Dropout on the attention output; defaults to 0.
        layer_norm_epsilon: float.
        **kwargs: base layer arguments.

    Call arguments:
        features: `(B, num_tokens, D)` frozen features.
        training: bool.

    Returns:
        `(B, num_queries, output_dim)`.

    Example:
    ```python
    readout = CrossAttentionReadout(num_queries=1, output_dim=10, hidden_dim=64,
                                    num_heads=4)
    logits = readout(np.random.rand(2, 32, 160).astype("float32"))[:, 0]
    ```
    """

    def __init__(
        self,
        num_queries,
        output_dim,
        hidden_dim=256,
        num_heads=8,
        intermediate_dim=None,
        dropout=0.0,
        layer_norm_epsilon=1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_queries) < 1 or int(output_dim) < 1:
            raise ValueError(
                "`num_queries` and `output_dim` must be >= 1; received "
                f"num_queries={num_queries}, output_dim={output_dim}."
            )
        if int(hidden_dim) % int(num_heads):
            raise ValueError(
                f"`hidden_dim` ({hidden_dim}) must be a multiple of `num_heads` ({num_heads})."
            )
        self.num_queries = int(num_queries)
        self.output_dim = int(output_dim)
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim or 4 * self.hidden_dim)
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        policy = self.dtype_policy
        eps = self.layer_norm_epsilon

        def norm(name):
            return keras.layers.LayerNormalization(epsilon=eps, dtype=policy, name=name)

        self.input_norm = norm("input_norm")
        self.input_projection = keras.layers.Dense(self.hidden_dim, dtype=policy, name="input_projection")
        self.attention = keras.layers.MultiHeadAttention(
            self.num_heads, self.hidden_dim // self.num_heads, dropout=self.dropout,
            dtype=policy, name="attention",
        )
        self.mlp_norm = norm("mlp_norm")
        self.mlp_intermediate = keras.layers.Dense(
            self.intermediate_dim, activation=get_activation("gelu"), dtype=policy,
            name="mlp_intermediate",
        )
        self.mlp_output = keras.layers.Dense(self.hidden_dim, dtype=policy, name="mlp_output")
        self.output_norm = norm("output_norm")
        self.head = keras.layers.Dense(self.output_dim, dtype=policy, name="head")

    def build(self, features_shape):
        if len(features_shape) != 3:
            raise ValueError(
                "CrossAttentionReadout expects features of shape (batch, num_tokens, "
                f"dim); received {tuple(features_shape)}. Pool or reshape first."
            )
        self.input_norm.build(features_shape)
        self.input_projection.build(features_shape)
        self.queries = self.add_weight(
            name="queries", shape=(self.num_queries, self.hidden_dim),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )
        token_shape = (None, None, self.hidden_dim)
        self.attention.build(token_shape, token_shape)
        self.mlp_norm.build(token_shape)
        self.mlp_intermediate.build(token_shape)
        self.mlp_output.build((None, None, self.intermediate_dim))
        self.output_norm.build(token_shape)
        self.head.build(token_shape)
        self.built = True

    def call(self, features, training=None):
        features = self.input_projection(self.input_norm(features))
        batch_size = ops.shape(features)[0]
        queries = ops.cast(self.queries, self.compute_dtype)
        queries = ops.broadcast_to(queries[None], (batch_size, self.num_queries, self.hidden_dim))
        x = queries + self.attention(queries, features, training=training)
        x = x + self.mlp_output(self.mlp_intermediate(self.mlp_norm(x)))
        return self.head(self.output_norm(x))

    def compute_output_shape(self, features_shape):
        return (features_shape[0], self.num_queries, self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_queries": self.num_queries,
                "output_dim": self.output_dim,
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
