import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_layerlock")
class LinearReadout(keras.layers.Layer):
    """A linear probe on frozen tokens, shaped like `CrossAttentionReadout`.

    With one query (classification) all tokens are concatenated and mapped
    to the outputs by one linear layer, so the probe keeps where each token
    is (pool the tokens to a coarse grid first, `TokenGridPooling`). With
    `num_queries > 1` (dense tasks) each token is mapped to its own output
    patch by a shared linear layer plus a bias per output patch (the
    layout prior: what every clip has at that place, which standardised
    features no longer carry), which needs one token per output patch.

    Args:
        num_queries: int. 1 for classification; the number of output
            patches for dense tasks (must equal the number of tokens).
        output_dim: int. Outputs per query.
        **kwargs: base layer arguments.

    Call arguments:
        features: `(B, num_tokens, D)`.

    Returns:
        `(B, num_queries, output_dim)`.

    Example:
    ```python
    probe = LinearReadout(num_queries=1, output_dim=8)
    logits = probe(np.random.rand(2, 8, 160).astype("float32"))[:, 0]
    ```
    """

    def __init__(self, num_queries, output_dim, **kwargs):
        super().__init__(**kwargs)
        if int(num_queries) < 1 or int(output_dim) < 1:
            raise ValueError(
                "`num_queries` and `output_dim` must be >= 1; received "
                f"num_queries={num_queries}, output_dim={output_dim}."
            )
        self.num_queries = int(num_queries)
        self.output_dim = int(output_dim)
        self.head = keras.layers.Dense(self.output_dim, dtype=self.dtype_policy, name="head")

    def build(self, features_shape):
        if len(features_shape) != 3 or features_shape[1] is None or features_shape[2] is None:
            raise ValueError(
                "LinearReadout expects features (batch, num_tokens, dim) with known "
                f"num_tokens and dim; received {tuple(features_shape)}."
            )
        num_tokens, dim = int(features_shape[1]), int(features_shape[2])
        if self.num_queries > 1 and num_tokens != self.num_queries:
            raise ValueError(
                f"A dense LinearReadout maps each token to one of its {self.num_queries} "
                f"output patches, but received {num_tokens} tokens. Use the "
                "cross-attention readout when the token grid differs from the output grid."
            )
        self.head.build((None, dim * num_tokens if self.num_queries == 1 else dim))
        if self.num_queries > 1:
            self.query_bias = self.add_weight(
                name="query_bias", shape=(self.num_queries, self.output_dim),
                initializer="zeros")
        self.built = True

    def call(self, features):
        if self.num_queries == 1:
            flat = ops.reshape(features, (-1, features.shape[1] * features.shape[2]))
            return self.head(flat)[:, None]
        return self.head(features) + ops.cast(self.query_bias, self.compute_dtype)

    def compute_output_shape(self, features_shape):
        return (features_shape[0], self.num_queries, self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update({"num_queries": self.num_queries, "output_dim": self.output_dim})
        return config
