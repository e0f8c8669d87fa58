import numpy as np


def knn_predict(train_features, train_labels, features, k=20, temperature=0.07,
                num_classes=None, batch_size=1024):
    """Weighted k-nearest-neighbour classification on cosine similarity.

    The protocol of Wu et al. (2018) used by DINO and ViC-MAE: the `k`
    training examples most similar to a query (cosine similarity of the
    L2-normalised features) vote for their label with weight
    `exp(similarity / temperature)`.

    Args:
        train_features: `(n_train, d)`.
        train_labels: int `(n_train,)`.
        features: `(n, d)` queries.
        k: int; 20 and 200 in the protocol.
        temperature: float; defaults to 0.07.
        num_classes: int; defaults to `max(label) + 1`.
        batch_size: queries per similarity matrix.

    Returns:
        `(predictions (n,), class_scores (n, num_classes))`.

    Example:
    ```python
    predictions, _ = knn_predict(train_x, train_y, test_x, k=20)
    ```
    """
    train_features = np.asarray(train_features, "float32")
    features = np.asarray(features, "float32")
    train_labels = np.asarray(train_labels).astype("int64")
    if train_features.ndim != 2 or features.ndim != 2 or train_features.shape[1] != features.shape[1]:
        raise ValueError(
            "Expected train features (n_train, d) and query features (n, d) of the same "
            f"width; received {train_features.shape} and {features.shape}."
        )
    if len(train_labels) != len(train_features):
        raise ValueError(
            f"{len(train_features)} training features but {len(train_labels)} labels."
        )
    k = min(int(k), len(train_features))
    num_classes = int(num_classes or train_labels.max() + 1)

    def normalise(x):
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    train_features, features = normalise(train_features), normalise(features)
    scores = []
    for start in range(0, len(features), batch_size):
        similarity = features[start : start + batch_size] @ train_features.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        weights = np.exp(np.take_along_axis(similarity, nearest, axis=1) / temperature)
        votes = np.zeros((len(similarity), num_classes), "float64")
        np.add.at(votes, (np.arange(len(similarity))[:, None], train_labels[nearest]), weights)
        scores.append(votes)
    scores = np.concatenate(scores)
    return scores.argmax(axis=1), scores


def knn_accuracy(train_features, train_labels, features, labels, k=(20, 200), **kwargs):
    """k-NN top-1 accuracy for each `k` (see `knn_predict`).

    Returns:
        `{k: accuracy}`.

    Example:
    ```python
    knn_accuracy(train_x, train_y, test_x, test_y)  # {20: 0.81, 200: 0.78}
    ```
    """
    ks = (k,) if np.isscalar(k) else tuple(k)
    labels = np.asarray(labels)
    return {
        int(kk): float(np.mean(knn_predict(train_features, train_labels, features, kk, **kwargs)[0] == labels))
        for kk in ks
    }
