"""Whole V-JEPA 2 checkpoints as a `VJEPA` model: context encoder, target
encoder and predictor, so that pretraining continues from them.

Facts the mapping rests on (facebookresearch/vjepa2
`src/models/predictor.py`; `transformers.models.vjepa2`):

- official predictor keys (prefix `module.backbone.`): `predictor_embed`
  (encoder width -> predictor width), `mask_tokens.{i}` `(1, 1, width)`,
  one per mask generator (generator `i` uses token `i % n`),
  `predictor_blocks.{i}` laid out as the encoder's blocks, with the same
  RoPE on queries and keys, `predictor_norm`, `predictor_proj` (back to the
  encoder width); the predictor sorts context and mask tokens by position
  before its blocks, which attention without masks does not see;
- `transformers` keys: `predictor.embeddings.predictor_embeddings`,
  `predictor.embeddings.mask_tokens` `(n, 1, 1, width)`,
  `predictor.layer.{i}` (as its encoder's layers), `predictor.layernorm`,
  `predictor.proj`; `VJEPA2Model` has one encoder, which becomes both the
  context and the target encoder here.
"""

import re

import numpy as np

from keras_layerlock.converters.checkpoint_files import read_checkpoint
from keras_layerlock.converters.checkpoint_files import strip_prefix
from keras_layerlock.converters.strict_assignment import CheckpointMismatchError
from keras_layerlock.converters.strict_assignment import assign_strictly
from keras_layerlock.converters.vit_mapping import block_mapping
from keras_layerlock.converters.vit_mapping import dense_mapping
from keras_layerlock.converters.vit_mapping import norm_mapping
from keras_layerlock.converters.vit_mapping import prefixed

# Heads of the released predictors by width (the weights do not say).
PREDICTOR_NUM_HEADS = {384: 12}


def stacked_mask_tokens(*tokens):
    """Mask tokens `(1, 1, width)` each (or one `(n, 1, 1, width)`) -> the
    predictor's `(width,)` or `(n, width)`."""
    stacked = np.concatenate([np.reshape(t, (-1, np.shape(t)[-1])) for t in tokens], axis=0)
    return stacked[0] if stacked.shape[0] == 1 else stacked


def predictor_geometry(state, embed_key, block_pattern, fc1_key, num_mask_tokens, num_heads):
    """The `VJEPA` predictor arguments a predictor state dict describes."""
    if embed_key not in state:
        raise CheckpointMismatchError(
            f"missing key {embed_key!r}: this is not a V-JEPA 2 predictor (its keys begin "
            f"{sorted(state)[:5]}).")
    width = int(np.shape(state[embed_key])[0])
    blocks = sorted({int(m.group(1)) for key in state if (m := re.match(block_pattern, key))})
    if not blocks or blocks != list(range(len(blocks))):
        raise CheckpointMismatchError(
            f"the predictor's blocks are not numbered 0 ... n - 1 (found {blocks}).")
    if num_heads is None:
        if width not in PREDICTOR_NUM_HEADS:
            raise ValueError(
                f"A V-JEPA 2 predictor {width} wide is not one of the released sizes "
                f"{sorted(PREDICTOR_NUM_HEADS)}, and the weights do not give the number of "
                "heads: pass `predictor_num_heads`.")
        num_heads = PREDICTOR_NUM_HEADS[width]
    if num_mask_tokens < 1:
        raise CheckpointMismatchError("missing mask tokens: the predictor has none.")
    return {"predictor": "vjepa", "predictor_hidden_dim": width,
            "predictor_num_layers": len(blocks), "predictor_num_heads": int(num_heads),
            "predictor_intermediate_dim": int(np.shape(state[fc1_key.format(0)])[0]),
            "predictor_num_mask_tokens": int(num_mask_tokens)}


def official_predictor_mapping(predictor, num_mask_tokens):
    """Keys of the official V-JEPA 2 predictor to a `MaskedTokenPredictor`."""
    from keras_layerlock.converters.vjepa2 import official_qkv

    names = {"norm1": "predictor_blocks.{}.norm1", "norm2": "predictor_blocks.{}.norm2",
             "proj": "predictor_blocks.{}.attn.proj", "fc1": "predictor_blocks.{}.mlp.fc1",
             "fc2": "predictor_blocks.{}.mlp.fc2"}
    tokens = tuple(f"mask_tokens.{i}" for i in range(num_mask_tokens))
    return (dense_mapping(predictor.input_projection, "predictor_embed")
            + [(tokens, predictor.mask_token, stacked_mask_tokens)]
            + block_mapping(predictor.blocks, names, official_qkv("predictor_blocks"))
            + norm_mapping(predictor.norm, "predictor_norm")
            + dense_mapping(predictor.output_projection, "predictor_proj"))


def transformers_predictor_mapping(predictor):
    """Keys of `transformers`' `VJEPA2Predictor` (prefix `predictor.`)."""
    from keras_layerlock.converters.vjepa2 import transformers_layer_names
    from keras_layerlock.converters.vjepa2 import transformers_qkv

    return (dense_mapping(predictor.input_projection, "embeddings.predictor_embeddings")
            + [(("embeddings.mask_tokens",), predictor.mask_token, stacked_mask_tokens)]
            + block_mapping(predictor.blocks, transformers_layer_names("layer.{}"),
                            transformers_qkv("layer"))
            + norm_mapping(predictor.norm, "layernorm")
            + dense_mapping(predictor.output_projection, "proj"))


def convert_official_model(source, num_heads=None, predictor_num_heads=None, model_kwargs=None,
                           **config_overrides):
    """A `VJEPA` holding an official V-JEPA 2 checkpoint's `encoder` (the
    context encoder), `target_encoder` and `predictor`, loaded strictly in
    one step."""
    from keras_layerlock.converters.vjepa2 import OFFICIAL_PREFIXES
    from keras_layerlock.converters.vjepa2 import official_backbone_config
    from keras_layerlock.converters.vjepa2 import official_encoder_mapping
    from keras_layerlock.converters.vjepa2 import official_encoder_state
    from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone
    from keras_layerlock.models.vjepa.vjepa import VJEPA

    checkpoint = read_checkpoint(source)
    target, _ = official_encoder_state(checkpoint, "target_encoder")
    online, _ = official_encoder_state(checkpoint, "encoder")
    if not isinstance(checkpoint.get("predictor"), dict):
        raise CheckpointMismatchError(
            f"The checkpoint has no 'predictor' state dict; its top-level keys are "
            f"{sorted(checkpoint)}.")
    predictor = strip_prefix(checkpoint["predictor"], OFFICIAL_PREFIXES)
    num_tokens = len([k for k in predictor if re.fullmatch(r"mask_tokens\.\d+", k)])
    backbone = VideoViTBackbone(**official_backbone_config(target, num_heads, **config_overrides))
    sizes = predictor_geometry(predictor, "predictor_embed.weight", r"predictor_blocks\.(\d+)\.",
                               "predictor_blocks.{}.mlp.fc1.weight", num_tokens,
                               predictor_num_heads)
    model = VJEPA(backbone, **{**(model_kwargs or {}), **sizes})
    state = {**{"encoder." + k: v for k, v in online.items()},
             **{"target_encoder." + k: v for k, v in target.items()},
             **{"predictor." + k: v for k, v in predictor.items()}}
    mapping = (prefixed(official_encoder_mapping(model.backbone), "encoder.")
               + prefixed(official_encoder_mapping(model.target_encoder), "target_encoder.")
               + prefixed(official_predictor_mapping(model.predictor, num_tokens), "predictor."))
    assign_strictly(state, mapping, "V-JEPA 2 (encoder, target_encoder, predictor)")
    return model


def convert_transformers_model(state, backbone_config, predictor_num_heads=None,
                               model_kwargs=None):
    """A `VJEPA` holding a `transformers` `VJEPA2Model` state dict: its
    encoder as context and target encoder, and its predictor."""
    from keras_layerlock.converters.vjepa2 import transformers_encoder_mapping
    from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone
    from keras_layerlock.models.vjepa.vjepa import VJEPA

    encoder = {k: v for k, v in state.items() if not k.startswith("predictor.")}
    predictor = {k[len("predictor."):]: v for k, v in state.items()
                 if k.startswith("predictor.")}
    tokens = predictor.get("embeddings.mask_tokens")
    num_tokens = 0 if tokens is None else int(np.shape(tokens)[0])
    sizes = predictor_geometry(predictor, "embeddings.predictor_embeddings.weight",
                               r"layer\.(\d+)\.", "layer.{}.mlp.fc1.weight", num_tokens,
                               predictor_num_heads)
    model = VJEPA(VideoViTBackbone(**backbone_config), **{**(model_kwargs or {}), **sizes})
    both = {**{"encoder:" + k: v for k, v in encoder.items()},
            **{"target_encoder:" + k: v for k, v in encoder.items()},
            **{"predictor." + k: v for k, v in predictor.items()}}
    mapping = (prefixed(transformers_encoder_mapping(model.backbone), "encoder:")
               + prefixed(transformers_encoder_mapping(model.target_encoder), "target_encoder:")
               + prefixed(transformers_predictor_mapping(model.predictor), "predictor."))
    assign_strictly(both, mapping, "transformers VJEPA2Model (encoder, predictor)")
    return model
