import keras
import numpy as np


def linear_probe(train_features, train_labels, features, labels, num_classes=None,
                 epochs=50, batch_size=256, learning_rate=0.1, seed=0, verbose=0):
    """Linear-probe accuracy on frozen, pooled features (ViC-MAE protocol).

    A BatchNorm without affine parameters (it only standardises the
    features) followed by one linear layer, trained with SGD (momentum 0.9,
    learning rate `learning_rate` with cosine decay, no weight decay) on
    cross-entropy.

    Args:
        train_features: `(n_train, d)` pooled features.
        train_labels: int `(n_train,)`.
        features, labels: the evaluation split.
        num_classes: int; defaults to `max(label) + 1`.
        epochs, batch_size, learning_rate: training settings; defaults 50,
            256, 0.1.
        seed: int.
        verbose: `fit` verbosity.

    Returns:
        dict `accuracy` (evaluation split) and `model` (the trained probe).

    Example:
    ```python
    linear_probe(train_x, train_y, test_x, test_y)["accuracy"]
    ```
    """
    train_features = np.asarray(train_features, "float32")
    features = np.asarray(features, "float32")
    if train_features.ndim != 2 or features.ndim != 2:
        raise ValueError(
            "The linear probe takes pooled features (n, d); received "
            f"{train_features.shape} and {features.shape}. Mean-pool tokens first."
        )
    num_classes = int(num_classes or max(np.max(train_labels), np.max(labels)) + 1)
    keras.utils.set_random_seed(seed)
    probe = keras.Sequential(
        [
            keras.Input((train_features.shape[1],)),
            # PyTorch's BatchNorm1d momentum (0.1 there, 0.9 here), as MAE/ViC-MAE use.
            keras.layers.BatchNormalization(center=False, scale=False, momentum=0.9, epsilon=1e-6),
            keras.layers.Dense(num_classes),
        ],
        name="linear_probe",
    )
    steps = epochs * max(1, -(-len(train_features) // batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    probe.compile(
        keras.optimizers.SGD(schedule, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    probe.fit(train_features, np.asarray(train_labels), batch_size=batch_size, epochs=epochs,
              verbose=verbose)
    accuracy = probe.evaluate(features, np.asarray(labels), batch_size=1024, verbose=0,
                              return_dict=True)["accuracy"]
    return {"accuracy": float(accuracy), "model": probe}
