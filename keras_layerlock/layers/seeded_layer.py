import keras


class SeededLayer(keras.layers.Layer):
    """A layer that draws random numbers and checkpoints its seed state.

    Keras does not save `SeedGenerator` states with a model's weights; the
    samplers that run inside a training step (token masks, block masks)
    subclass this so that a run restored from a checkpoint draws exactly
    what the run that wrote it would have drawn.

    Args:
        seed: int or None.
        **kwargs: base `keras.layers.Layer` arguments.

    Example:
    ```python
    class Noise(SeededLayer):
        def call(self, x):
            return x + keras.random.normal(x.shape, seed=self.seed_generator)
    ```
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="seed_generator")
        self.built = True

    def save_own_variables(self, store):
        store["seed_generator_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        if "seed_generator_state" not in store:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the checkpoint has no "
                f"seed_generator_state (keys: {list(store.keys())})."
            )
        self.seed_generator.state.assign(store["seed_generator_state"])

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config
