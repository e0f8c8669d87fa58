"""4DS encoders: the released `.npz` checkpoints
(google-deepmind/representations4d: 4DS-B-dist-e, 4DS-e, and the encoder of
the 4DS-B-dist-e depth model).

Facts the mapping rests on (google-deepmind/representations4d
`representations4d/models/model.py` and its depth colab;
google-research/kauldron `modules/transformers.py`, `modules/attention.py`,
`modules/pos_embeddings.py`):

- the file is a flat `.npz` whose keys are the Flax parameter paths joined
  with '/'; the encoder is a `Model` with an `encoder` (`Tokenizer`) and a
  `processor` (`GeneralizedTransformer`), under `params/` (and under
  `params/layers_0/` when the file also holds a readout, as the depth
  checkpoint does, `nn.Sequential([encoder, ..., readout])`);
- `encoder/patch_embedding/Conv_0/{kernel (t, p, p, C, D), bias}`: a
  strided convolution, the kernel already in this library's tubelet
  layout; `encoder/posenc/embeddings` `(T', h, w, D)`: a learned table of
  the training grid;
- `processor/layers_{i}/{attention_norm, mlp_norm}/{scale, bias}`,
  `processor/layers_{i}/attention/{query, key, value}/{kernel (D, H,
  D / H), bias (H, D / H)}`, `attention/out/{kernel (H, D / H, D), bias}`,
  `mlp/dense_in` and `mlp/dense_out` `{kernel, bias}`: pre-norm blocks,
  Flax LayerNorm (epsilon 1e-6), `nn.gelu` (the tanh approximation), no
  query / key normalisation, and no norm after the last block;
- the model takes videos in [0, 1] (the colab divides uint8 frames by
  255), this library's own convention, so no input statistics are set;
- its list of features is `[tokens, tokens, block 1, ..., block L - 1]`
  (the embedded tokens twice, never the last block): 4DS feature `k` is
  this library's layer `k - 1` (`forward_intermediates(video, k - 1)`);
  the depth readout's `readout_depth=0.95` of a 12-block model is layer 10.
"""

import re

import numpy as np

from keras_layerlock.converters.checkpoint_files import read_checkpoint
from keras_layerlock.converters.strict_assignment import CheckpointMismatchError
from keras_layerlock.converters.strict_assignment import assign_strictly
from keras_layerlock.converters.vit_mapping import same

PATCH_KERNEL = "encoder/patch_embedding/Conv_0/kernel"
POSITION_TABLE = "encoder/posenc/embeddings"
BLOCK = "processor/layers_{}/"


def encoder_keys(checkpoint):
    """The encoder's `{key: array}` with its prefix removed, and the prefix.

    The encoder is found by its patch embedding; keys under the same prefix
    belong to it (anything unused is then named as unexpected), keys
    elsewhere (a readout) are not part of it.
    """
    flat = {}
    _flatten(checkpoint, "", flat)
    prefixes = [key[: -len(PATCH_KERNEL)] for key in flat if key.endswith(PATCH_KERNEL)]
    if len(prefixes) != 1:
        raise CheckpointMismatchError(
            f"{'No' if not prefixes else 'More than one'} key ends with {PATCH_KERNEL!r} "
            f"({prefixes}): this is not one 4DS encoder. Its keys begin {sorted(flat)[:5]}."
        )
    prefix = prefixes[0]
    return {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}, prefix


def _flatten(tree, prefix, out):
    # `read_checkpoint` gives an `.npz` flat; a nested Flax tree (for example
    # `recover_tree`'s output) is flattened the same way.
    for key, value in tree.items():
        if isinstance(value, dict):
            _flatten(value, f"{prefix}{key}/", out)
        else:
            out[prefix + key] = value


def backbone_config(state, **overrides):
    """The `VideoViTBackbone` config a 4DS encoder's weights describe (the
    number of heads is in the query kernel's shape)."""
    kernel = np.shape(state[PATCH_KERNEL])
    if len(kernel) != 5:
        raise CheckpointMismatchError(
            f"mis-shaped key {PATCH_KERNEL!r} {kernel}: a 4DS video encoder has a 3-D "
            "convolution kernel (t, p, p, C, D).")
    tubelet, patch_h, patch_w, channels, width = kernel
    if POSITION_TABLE not in state or len(np.shape(state[POSITION_TABLE])) != 4:
        raise CheckpointMismatchError(
            f"missing or mis-shaped key {POSITION_TABLE!r} "
            f"{np.shape(state.get(POSITION_TABLE))}: 4DS encoders hold a learned "
            "(T', h, w, D) position table.")
    grid = np.shape(state[POSITION_TABLE])[:3]
    blocks = sorted({int(m.group(1)) for key in state
                     if (m := re.match(r"processor/layers_(\d+)/", key))})
    if not blocks or blocks != list(range(len(blocks))):
        raise CheckpointMismatchError(
            f"the blocks of this checkpoint are not numbered layers_0 ... layers_n-1 "
            f"(found {blocks}).")
    query = np.shape(state.get(BLOCK.format(0) + "attention/query/kernel"))
    if len(query) != 3:
        raise CheckpointMismatchError(
            f"missing or mis-shaped key {BLOCK.format(0) + 'attention/query/kernel'!r} "
            f"{query}: 4DS attention kernels are (D, heads, D / heads).")
    config = {
        "hidden_dim": int(width), "num_layers": len(blocks), "num_heads": int(query[1]),
        "intermediate_dim": int(np.shape(state[BLOCK.format(0) + "mlp/dense_in/kernel"])[1]),
        "patch_size": (int(tubelet), int(patch_h), int(patch_w)),
        "num_channels": int(channels),
        "num_frames": int(grid[0] * tubelet),
        "image_size": (int(grid[1] * patch_h), int(grid[2] * patch_w)),
        "position_encoding": "learned",
        "use_qkv_bias": BLOCK.format(0) + "attention/query/bias" in state,
        "use_final_norm": False,
        "activation": "gelu_approximate",
        "layer_norm_epsilon": 1e-6,
    }
    config.update(overrides)
    return config


def _heads_kernel(query, key, value):
    """Flax `(D, H, d)` query / key / value kernels -> fused `(D, 3 * H * d)`."""
    return np.concatenate([np.reshape(k, (k.shape[0], -1)) for k in (query, key, value)], axis=1)


def _heads_bias(query, key, value):
    return np.concatenate([np.reshape(b, (-1,)) for b in (query, key, value)])


def _flatten_heads_in(kernel):
    """Flax output kernel `(H, d, D)` -> `(H * d, D)`."""
    return np.reshape(kernel, (-1, kernel.shape[-1]))


def _flatten_grid(table):
    return np.reshape(table, (-1, table.shape[-1]))


def encoder_mapping(backbone):
    """4DS keys (prefix removed) to `backbone`'s variables."""
    mapping = [((PATCH_KERNEL,), backbone.patch_embedding.kernel, same),
               (("encoder/patch_embedding/Conv_0/bias",), backbone.patch_embedding.bias, same),
               ((POSITION_TABLE,), backbone.position_embedding.embeddings, _flatten_grid)]
    for i, block in enumerate(backbone.transformer_layers):
        key = BLOCK.format(i)
        for norm in ("attention_norm", "mlp_norm"):
            layer = getattr(block, norm)
            mapping += [((f"{key}{norm}/scale",), layer.gamma, same),
                        ((f"{key}{norm}/bias",), layer.beta, same)]
        projections = [f"{key}attention/{n}/" for n in ("query", "key", "value")]
        mapping.append((tuple(p + "kernel" for p in projections), block.qkv.kernel,
                        _heads_kernel))
        if block.qkv.bias is not None:
            mapping.append((tuple(p + "bias" for p in projections), block.qkv.bias, _heads_bias))
        mapping += [((f"{key}attention/out/kernel",), block.attention_output.kernel,
                     _flatten_heads_in),
                    ((f"{key}attention/out/bias",), block.attention_output.bias, same)]
        for dense, name in (("mlp_intermediate", "dense_in"), ("mlp_output", "dense_out")):
            layer = getattr(block, dense)
            mapping += [((f"{key}mlp/{name}/kernel",), layer.kernel, same),
                        ((f"{key}mlp/{name}/bias",), layer.bias, same)]
    return mapping


def convert_4ds(source, **config_overrides):
    """A `VideoViTBackbone` holding a released 4DS encoder.

    Args:
        source: path of the `.npz` checkpoint, or its contents (a flat
            '/'-keyed dict, or the nested tree of `recover_tree`).
        **config_overrides: backbone arguments to set.

    Returns:
        `VideoViTBackbone` (learned position table, so clips must have the
        training grid, 16 x 224 x 224 for the released models). Its layer
        `k - 1` is 4DS feature `k`. A readout stored beside the encoder is
        left out.
    """
    from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone

    state, prefix = encoder_keys(read_checkpoint(source))
    backbone = VideoViTBackbone(**backbone_config(state, **config_overrides))
    assign_strictly(state, encoder_mapping(backbone), f"4DS encoder (under {prefix!r})")
    return backbone
