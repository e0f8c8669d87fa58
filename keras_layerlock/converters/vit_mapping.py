"""Checkpoint keys to `VideoViTBackbone` variables: what every ViT converter shares."""

import numpy as np


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


def block_mapping(backbone, names, qkv):
    """`(keys, variable, transform)` for every block; `names` maps the
    library's sub-layer to the checkpoint's key of block `{i}`."""
    mapping = []
    for i, block in enumerate(backbone.transformer_layers):
        for layer, key in (("attention_norm", names["norm1"]), ("mlp_norm", names["norm2"])):
            norm = getattr(block, layer)
            mapping += [((key.format(i) + ".weight",), norm.gamma, same),
                        ((key.format(i) + ".bias",), norm.beta, same)]
        mapping += qkv(i, block)
        for layer, key in (("attention_output", names["proj"]),
                           ("mlp_intermediate", names["fc1"]), ("mlp_output", names["fc2"])):
            dense = getattr(block, layer)
            mapping += [((key.format(i) + ".weight",), dense.kernel, transpose),
                        ((key.format(i) + ".bias",), dense.bias, same)]
    return mapping


def embedding_and_norm_mapping(backbone, patch, final_norm):
    mapping = [((patch + ".weight",), backbone.patch_embedding.kernel, transpose_conv3d),
               ((patch + ".bias",), backbone.patch_embedding.bias, same)]
    if backbone.final_norm is not None:
        mapping += [((final_norm + ".weight",), backbone.final_norm.gamma, same),
                    ((final_norm + ".bias",), backbone.final_norm.beta, same)]
    return mapping
