"""Checkpoint keys to `VideoViTBackbone` variables: what every ViT converter shares."""

import re

import numpy as np

from keras_layerlock.converters.strict_assignment import CheckpointMismatchError


def transpose_conv3d(weight):
    """`Conv3d` weight `(D, C, t, p, p)` -> tubelet kernel `(t, p, p, C, D)`."""
    return np.transpose(weight, (2, 3, 4, 1, 0))


def transpose(weight):
    return np.transpose(weight)


def same(value):
    return value


def concatenated_kernel(query, key, value):
    return np.concatenate([query, key, value], axis=0).T


def concatenated_bias(query, key, value):
    return np.concatenate([query, key, value], axis=0)


def block_mapping(blocks, names, qkv):
    """`(keys, variable, transform)` for every `TransformerBlock` of
    `blocks`; `names` maps the library's sub-layer to the checkpoint's key
    of block `{i}`."""
    mapping = []
    for i, block in enumerate(blocks):
        for layer, key in (("attention_norm", names["norm1"]), ("mlp_norm", names["norm2"])):
            mapping += norm_mapping(getattr(block, layer), key.format(i))
        mapping += qkv(i, block)
        for layer, key in (("attention_output", names["proj"]),
                           ("mlp_intermediate", names["fc1"]), ("mlp_output", names["fc2"])):
            mapping += dense_mapping(getattr(block, layer), key.format(i))
    return mapping


def prefixed(mapping, prefix):
    """`mapping` with `prefix` before every checkpoint key (to load several
    state dicts of one file in one strict assignment)."""
    return [(tuple(prefix + key for key in keys), variable, transform)
            for keys, variable, transform in mapping]


def dense_mapping(dense, key):
    """A `torch.nn.Linear` `key` into a Keras `Dense`."""
    return [((key + ".weight",), dense.kernel, transpose), ((key + ".bias",), dense.bias, same)]


def norm_mapping(norm, key):
    """A `torch.nn.LayerNorm` `key` into a Keras `LayerNormalization`."""
    return [((key + ".weight",), norm.gamma, same), ((key + ".bias",), norm.beta, same)]


def embedding_and_norm_mapping(backbone, patch, final_norm):
    mapping = [((patch + ".weight",), backbone.patch_embedding.kernel, transpose_conv3d),
               ((patch + ".bias",), backbone.patch_embedding.bias, same)]
    if backbone.final_norm is not None:
        mapping += norm_mapping(backbone.final_norm, final_norm)
    return mapping


def encoder_geometry(state, patch_key, block_pattern, fc1_key, family, released_heads,
                     num_heads=None):
    """The sizes a ViT encoder's weights give, and its number of heads.

    Args:
        state: the encoder's `{key: array}`.
        patch_key: key of its `Conv3d` patch-embedding weight `(D, C, t, p, p)`.
        block_pattern: regex whose group 1 is a block's index in a key.
        fc1_key: key (with `{}` for the block) of the first MLP weight.
        family: the publisher's model name, for messages.
        released_heads: `{width: heads}` of the released models (the
            weights do not say how many heads there are).
        num_heads: int or None (look the width up in `released_heads`).

    Returns:
        dict: `hidden_dim`, `num_layers`, `num_heads`, `intermediate_dim`,
        `patch_size`, `num_channels`, and `blocks` (their indices).
    """
    if patch_key not in state:
        raise CheckpointMismatchError(
            f"missing key {patch_key!r}: this is not a {family} encoder state dict (its keys "
            f"begin {sorted(state)[:5]})."
        )
    weight = np.asarray(state[patch_key])
    if weight.ndim != 5:
        raise CheckpointMismatchError(
            f"mis-shaped key {patch_key!r} {weight.shape}: a {family} video encoder has a "
            "Conv3d patch embedding (D, C, t, p, p)."
        )
    hidden_dim, num_channels, tubelet, patch_h, patch_w = (int(d) for d in weight.shape)
    blocks = sorted({int(m.group(1)) for key in state if (m := re.match(block_pattern, key))})
    if not blocks or blocks != list(range(len(blocks))):
        raise CheckpointMismatchError(
            f"the blocks of this checkpoint are not numbered 0 ... n - 1 (found {blocks})."
        )
    if num_heads is None:
        if hidden_dim not in released_heads:
            raise ValueError(
                f"A {family} encoder {hidden_dim} wide is not one of the released sizes "
                f"{sorted(released_heads)}, and the weights do not give the number of heads: "
                "pass `num_heads`."
            )
        num_heads = released_heads[hidden_dim]
    return {
        "hidden_dim": hidden_dim, "num_layers": len(blocks), "num_heads": int(num_heads),
        "intermediate_dim": int(np.asarray(state[fc1_key.format(0)]).shape[0]),
        "patch_size": (tubelet, patch_h, patch_w), "num_channels": num_channels,
        "blocks": blocks,
    }
