"""Shape checks and tubelet (patch) bookkeeping shared by every model.

A video is `(batch, frames, height, width, channels)`; an image is
`(batch, height, width, channels)` and is treated as a one-frame video that is
tiled to the tubelet's temporal size (as in the 4DS / LayerLock models, so the
same weights serve images and videos).

Token order everywhere in the library is row-major over the token grid
`(T', H', W')`: token `n` sits at `t = n // (H' W')`, `h = (n // W') % H'`,
`w = n % W'`.
"""

import numpy as np
from keras import ops


def normalize_patch_size(patch_size):
    """Returns `patch_size` as a tuple `(t, p_h, p_w)` of positive ints.

    Accepts an int `p` (meaning `(1, p, p)`), a pair `(p_h, p_w)` (meaning
    `(1, p_h, p_w)`) or a triple.
    """
    if isinstance(patch_size, (int, np.integer)):
        patch_size = (1, int(patch_size), int(patch_size))
    patch_size = tuple(int(p) for p in patch_size)
    if len(patch_size) == 2:
        patch_size = (1,) + patch_size
    if len(patch_size) != 3 or any(p <= 0 for p in patch_size):
        raise ValueError(
            "`patch_size` must be a positive int or a tuple "
            "`(frames, height, width)` of positive ints. Received: "
            f"patch_size={patch_size}"
        )
    return patch_size


def video_grid_shape(input_shape, patch_size, num_channels=3):
    """Validates a static video/image shape and returns its token grid.

    Args:
        input_shape: tuple. `(batch, frames, height, width, channels)` for
            videos or `(batch, height, width, channels)` for images. `None`
            entries are allowed for the batch axis only.
        patch_size: tuple `(t, p_h, p_w)`.
        num_channels: int. Expected number of channels.

    Returns:
        Tuple `(t_grid, h_grid, w_grid)`.

    Raises:
        ValueError: for a wrong rank, wrong channel count, an empty batch,
            unknown spatial/temporal sizes, or sizes the patch does not divide.
    """
    t, ph, pw = normalize_patch_size(patch_size)
    shape = tuple(input_shape)
    if len(shape) not in (4, 5):
        raise ValueError(
            "Expected a video of shape (batch, frames, height, width, "
            f"{num_channels}) or an image batch of shape (batch, height, "
            f"width, {num_channels}). Received an input of rank {len(shape)} "
            f"with shape {shape}. Add the missing batch/frame axis, e.g. with "
            "`x[None]`."
        )
    if len(shape) == 4:
        shape = (shape[0], 1) + shape[1:]
    batch, frames, height, width, channels = shape
    if batch == 0:
        raise ValueError(
            f"Received an empty batch (input shape {tuple(input_shape)}). "
            "Pass at least one video."
        )
    if channels != num_channels:
        raise ValueError(
            f"Expected {num_channels} channels in the last axis, received "
            f"{channels} (input shape {tuple(input_shape)}). Inputs are "
            "channels-last RGB floats in [0, 1]."
        )
    for name, size in (("frames", frames), ("height", height), ("width", width)):
        if size is None:
            raise ValueError(
                f"The {name} axis of the input must have a static size, "
                f"received None (input shape {tuple(input_shape)}). Give the "
                "dataset a fixed clip shape (e.g. `drop_remainder` / "
                "`ensure_shape`)."
            )
    if frames == 1:
        # Images (and one-frame videos) are tiled to the tubelet's depth.
        frames = t
    problems = []
    for name, size, p in (
        ("frames", frames, t),
        ("height", height, ph),
        ("width", width, pw),
    ):
        if size % p:
            problems.append(f"{name}={size} is not divisible by {p}")
    if problems:
        raise ValueError(
            f"Input shape {tuple(input_shape)} does not tile into patches of "
            f"size (frames, height, width)={(t, ph, pw)}: "
            + "; ".join(problems)
            + ". Resize or crop the input, or pick a patch size that divides "
            "it."
        )
    return (frames // t, height // ph, width // pw)


def to_video(inputs, patch_size):
    """Returns `inputs` as a 5-D video, tiling images to the tubelet depth."""
    t = normalize_patch_size(patch_size)[0]
    if len(inputs.shape) == 4:
        inputs = ops.expand_dims(inputs, 1)
    if inputs.shape[1] == 1 and t > 1:
        inputs = ops.repeat(inputs, t, axis=1)
    return inputs


def patchify(videos, patch_size):
    """Splits videos into flattened tubelets.

    Args:
        videos: tensor `(B, T, H, W, C)` (or an image batch `(B, H, W, C)`),
            sizes divisible by `patch_size`.
        patch_size: tuple `(t, p_h, p_w)`.

    Returns:
        Tensor `(B, N, t * p_h * p_w * C)`, tokens in row-major grid order,
        each tubelet flattened in `(t, p_h, p_w, C)` order (the order of a
        `Conv3D` kernel, so a linear projection of these patches equals a
        strided convolution).

    Example:
    >>> patches = patchify(np.zeros((2, 4, 32, 32, 3)), (2, 16, 16))
    >>> tuple(patches.shape)
    (2, 8, 1536)
    """
    t, ph, pw = normalize_patch_size(patch_size)
    videos = to_video(ops.convert_to_tensor(videos), (t, ph, pw))
    _, frames, height, width, channels = videos.shape
    gt, gh, gw = frames // t, height // ph, width // pw
    x = ops.reshape(videos, (-1, gt, t, gh, ph, gw, pw, channels))
    x = ops.transpose(x, (0, 1, 3, 5, 2, 4, 6, 7))
    return ops.reshape(x, (-1, gt * gh * gw, t * ph * pw * channels))


def unpatchify(patches, grid_shape, patch_size, num_channels=3):
    """Inverse of `patchify`: `(B, N, t*p*p*C)` back to `(B, T, H, W, C)`."""
    t, ph, pw = normalize_patch_size(patch_size)
    gt, gh, gw = grid_shape
    x = ops.reshape(patches, (-1, gt, gh, gw, t, ph, pw, num_channels))
    x = ops.transpose(x, (0, 1, 4, 2, 5, 3, 6, 7))
    return ops.reshape(x, (-1, gt * t, gh * ph, gw * pw, num_channels))


def grid_positions(grid_shape, dtype="int32"):
    """Integer `(t, h, w)` coordinates of every token, shape `(N, 3)`."""
    gt, gh, gw = grid_shape
    t, h, w = np.meshgrid(
        np.arange(gt), np.arange(gh), np.arange(gw), indexing="ij"
    )
    coords = np.stack([t.ravel(), h.ravel(), w.ravel()], axis=-1)
    return ops.convert_to_tensor(coords.astype(dtype))


def gather_tokens(tokens, indices):
    """Gathers tokens `(B, N, D)` at per-example `indices` `(B, n)`.

    As rows of the flattened `(B * N, D)` tokens: `take_along_axis` would
    broadcast the indices to `(B, n, D)` (PyTorch then wraps and gathers
    every element), where whole rows are copied here.
    """
    indices = ops.cast(indices, "int32")
    shape = ops.shape(tokens)
    num_tokens = tokens.shape[1] if tokens.shape[1] is not None else shape[1]
    rows = indices + ops.arange(shape[0], dtype="int32")[:, None] * num_tokens
    flat = ops.reshape(tokens, (-1,) + tuple(tokens.shape[2:]))
    return ops.take(flat, rows, axis=0)


def gather_positions(positions, indices):
    """Coordinates `(N, 3)` of the tokens at per-example `indices` `(B, n)`.

    Returns `(B, n, 3)`: kept tokens keep their own grid coordinates.
    """
    return ops.take(positions, ops.cast(indices, "int32"), axis=0)


def standardize_last_axis(x, epsilon, unbiased=False):
    """Zero mean, unit variance over the last axis.

    `unbiased=False` is LayerNorm without affine; `unbiased=True` divides
    by the sample variance (n - 1), as MAE's `norm_pix_loss` does.
    """
    mean = ops.mean(x, axis=-1, keepdims=True)
    var = ops.var(x, axis=-1, keepdims=True)
    if unbiased:
        n = x.shape[-1]
        var = var * (n / (n - 1))
    return (x - mean) / ops.sqrt(var + epsilon)


def standardize_positions(positions):
    """Positions as float32 `(B or 1, N, 3)`."""
    positions = ops.cast(positions, "float32")
    if len(positions.shape) == 2:
        positions = ops.expand_dims(positions, 0)
    if len(positions.shape) != 3 or positions.shape[-1] != 3:
        raise ValueError(
            "Token positions must have shape (num_tokens, 3) or (batch, "
            "num_tokens, 3) with (t, h, w) grid coordinates. Received shape "
            f"{tuple(positions.shape)}."
        )
    return positions


def standardize_attention_mask(attention_mask):
    """Attention mask as bool `(B, 1, N_q, N_k)` for `dot_product_attention`.

    Accepts `(B, N_k)` (which keys every query may see) or
    `(B, N_q, N_k)`; `True` means "may attend".
    """
    if attention_mask is None:
        return None
    mask = ops.cast(attention_mask, "bool")
    rank = len(mask.shape)
    if rank == 2:
        return mask[:, None, None, :]
    if rank == 3:
        return mask[:, None, :, :]
    raise ValueError(
        "`attention_mask` must have shape (batch, num_keys) or (batch, "
        f"num_queries, num_keys). Received shape {tuple(mask.shape)}."
    )


