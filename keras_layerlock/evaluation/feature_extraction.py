import keras
import numpy as np

from keras_layerlock.utils.video_input_checks import check_video_array


def extract_features(backbone, videos, layer=None, pooling="mean", batch_size=32, verbose=False):
    """Frozen features of a backbone at one depth, batch by batch.

    The feature-extraction API (which encoder, which layer): runs the
    backbone's embedding and blocks `1..layer` only (no work past the
    requested depth) in inference mode.

    Args:
        backbone: a `VideoViTBackbone`.
        videos: array `(n, T, H, W, C)` (or images `(n, H, W, C)`).
        layer: int. Depth of the features (0 = embeddings); defaults to the
            last block.
        pooling: `"mean"` (one vector per clip), `"tokens"` (every token,
            `(n, num_tokens, hidden_dim)`).
        batch_size: int.
        verbose: bool. A progress bar.

    Returns:
        NumPy float32 array, `(n, hidden_dim)` or `(n, num_tokens, hidden_dim)`.

    Example:
    ```python
    features = extract_features(backbone, videos, layer=3)
    ```
    """
    if pooling not in ("mean", "tokens"):
        raise ValueError(f"`pooling` must be 'mean' or 'tokens'; received {pooling!r}.")
    layer = backbone.num_layers if layer is None else int(layer)
    if not 0 <= layer <= backbone.num_layers:
        raise ValueError(
            f"`layer` must be in [0, {backbone.num_layers}] for this backbone; received {layer}."
        )
    return layer_features_in_batches(
        backbone, videos, [layer], batch_size, verbose, mean_pool=pooling == "mean"
    )[layer]


def layer_features_in_batches(backbone, videos, layers, batch_size, verbose, mean_pool=False):
    """`{layer: features}` for several depths from one forward pass per batch.

    Runs the embedding and blocks `1..max(layers)` (inference mode) on
    `batch_size` clips at a time; depth 0 is the embedding output. With
    `mean_pool` every clip's tokens are averaged per batch, so only
    `(n, hidden_dim)` arrays are kept. Callers validate `layers`.
    """
    videos = np.asarray(videos)
    check_video_array(videos)
    deepest = max(layers)
    chunks = {layer: [] for layer in layers}
    progbar = keras.utils.Progbar(len(videos), unit_name="clip") if verbose else None
    for start in range(0, len(videos), batch_size):
        batch = keras.ops.convert_to_tensor(videos[start : start + batch_size].astype("float32"))
        tokens, positions = backbone.embed(batch)
        outputs = [tokens]
        if deepest > 0:
            outputs += [backbone.patch_tokens(x)
                        for x in backbone.encode(tokens, positions, 0, deepest)]
        for layer in layers:
            features = outputs[layer]
            if mean_pool:
                features = keras.ops.mean(features, axis=1)
            chunks[layer].append(keras.ops.convert_to_numpy(features).astype("float32"))
        if progbar:
            progbar.add(len(batch))
    return {layer: np.concatenate(parts) for layer, parts in chunks.items()}
