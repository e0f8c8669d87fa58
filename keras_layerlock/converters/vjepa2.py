"""V-JEPA 2 encoders: the official `.pt` checkpoints and `transformers`'
`VJEPA2Model` state dicts.

Facts the mapping rests on (facebookresearch/vjepa2,
`src/models/vision_transformer.py` and `src/models/utils/modules.py`;
`transformers.models.vjepa2`):

- official keys: `patch_embed.proj` (a `Conv3d`, weight `(D, C, t, p, p)`),
  `blocks.{i}.norm1`, `blocks.{i}.attn.qkv` (query | key | value stacked on
  the output axis), `blocks.{i}.attn.proj`, `blocks.{i}.norm2`,
  `blocks.{i}.mlp.fc1` / `fc2`, `norm`; the state dicts `encoder`,
  `target_encoder` and `predictor` carry a `module.backbone.` prefix, and
  the released evaluations use `target_encoder`;
- `transformers` keys: `encoder.embeddings.patch_embeddings.proj`,
  `encoder.layer.{i}.{norm1, attention.query / key / value / proj, norm2,
  mlp.fc1 / fc2}`, `encoder.layernorm`;
- per-head 3-D RoPE on queries and keys whose frequency table is
  duplicated with `repeat` (the library's `rope3d_vjepa2` with
  `vjepa2_frequency_quirk=True`), exact GELU, LayerNorm epsilon 1e-6, a
  final LayerNorm, ImageNet mean / std on the input; an image is evaluated
  as 16 repeated frames.
"""

from keras_layerlock.converters.checkpoint_files import encoder_part
from keras_layerlock.converters.checkpoint_files import read_checkpoint
from keras_layerlock.converters.checkpoint_files import strip_prefix
from keras_layerlock.converters.checkpoint_files import transformers_config
from keras_layerlock.converters.strict_assignment import CheckpointMismatchError
from keras_layerlock.converters.strict_assignment import assign_strictly
from keras_layerlock.converters.vit_mapping import block_mapping
from keras_layerlock.converters.vit_mapping import concatenated_bias
from keras_layerlock.converters.vit_mapping import concatenated_kernel
from keras_layerlock.converters.vit_mapping import embedding_and_norm_mapping
from keras_layerlock.converters.vit_mapping import encoder_geometry
from keras_layerlock.converters.vit_mapping import same
from keras_layerlock.converters.vit_mapping import transpose
from keras_layerlock.models.video_vit.video_vit_presets import IMAGENET_MEAN
from keras_layerlock.models.video_vit.video_vit_presets import IMAGENET_STD

# Heads of the released encoders by width (ViT-L, ViT-H, ViT-g); the
# weights do not say how many heads there are.
VJEPA2_NUM_HEADS = {1024: 16, 1280: 16, 1408: 22}
OFFICIAL_COMPONENTS = ("target_encoder", "encoder")
# DistributedDataParallel's and V-JEPA's wrappers around the encoder's keys.
OFFICIAL_PREFIXES = ("module.backbone.", "module.", "backbone.")
# `VJEPA2Model` / `VJEPA2ForVideoClassification` parts other than the
# encoder: known, and left out of an encoder conversion.
TRANSFORMERS_OTHER_COMPONENTS = ("predictor.", "pooler.", "classifier.")
TRANSFORMERS_ACTIVATIONS = {"gelu": "gelu", "gelu_pytorch_tanh": "gelu_approximate",
                            "gelu_new": "gelu_approximate"}


def backbone_config(state, patch_key, block_pattern, fc1_key, qkv_bias_keys, final_norm_key,
                    num_heads=None, **overrides):
    """The `VideoViTBackbone` config a V-JEPA 2 encoder's weights describe."""
    geometry = encoder_geometry(state, patch_key, block_pattern, fc1_key, "V-JEPA 2",
                                VJEPA2_NUM_HEADS, num_heads)
    blocks = geometry.pop("blocks")
    tubelet = geometry["patch_size"][0]
    config = {
        **geometry,
        "num_frames": 16,
        "image_size": 256,
        "position_encoding": "rope3d_vjepa2",
        "rope_placement": "qk",
        "vjepa2_frequency_quirk": True,
        # Any block with a bias means all have one (a lost bias is then named).
        "use_qkv_bias": any(key.format(i) in state for key in qkv_bias_keys for i in blocks),
        "use_final_norm": final_norm_key in state,
        "activation": "gelu",
        "layer_norm_epsilon": 1e-6,
        "input_mean": IMAGENET_MEAN,
        "input_std": IMAGENET_STD,
        # V-JEPA 2 evaluates an image as 16 repeated frames.
        "image_num_frames": 16 if 16 % tubelet == 0 else None,
    }
    config.update(overrides)
    return config


def official_encoder_state(checkpoint, component=None):
    """The encoder state dict of an official V-JEPA 2 checkpoint, prefixes
    removed, and the component it came from."""
    bare = strip_prefix(checkpoint, OFFICIAL_PREFIXES)
    if "patch_embed.proj.weight" in bare:
        if component is not None:
            raise ValueError(f"`component={component!r}` was given, but this file holds one "
                             "bare encoder state dict.")
        return bare, "encoder"
    components = [c for c in OFFICIAL_COMPONENTS if isinstance(checkpoint.get(c), dict)]
    component = component or (components[0] if components else None)
    if component not in checkpoint or not isinstance(checkpoint.get(component), dict):
        raise CheckpointMismatchError(
            f"The checkpoint has no {component!r} state dict; its top-level keys are "
            f"{sorted(checkpoint)}. V-JEPA and V-JEPA 2 checkpoints hold 'encoder', "
            "'target_encoder' and 'predictor'."
        )
    return strip_prefix(checkpoint[component], OFFICIAL_PREFIXES), component


def official_backbone_config(state, num_heads=None, **config_overrides):
    """The `VideoViTBackbone` config of an official encoder state dict."""
    return backbone_config(state, "patch_embed.proj.weight", r"blocks\.(\d+)\.",
                           "blocks.{}.mlp.fc1.weight", ("blocks.{}.attn.qkv.bias",),
                           "norm.weight", num_heads, **config_overrides)


def convert_vjepa2(source, component=None, num_heads=None, predictor_num_heads=None,
                   model_kwargs=None, **config_overrides):
    """A `VideoViTBackbone` holding an official V-JEPA 2 encoder, or the
    whole checkpoint as a `VJEPA` model.

    Args:
        source: path of the `.pt` checkpoint (or its loaded dict).
        component: `"target_encoder"` (default: what the released
            evaluations use), `"encoder"`, or `"model"`: a `VJEPA` whose
            context encoder, target encoder and predictor hold the
            checkpoint's `encoder`, `target_encoder` and `predictor`, to
            continue pretraining.
        num_heads: int; defaults to the released model of that width (16
            for ViT-L and ViT-H, 22 for ViT-g).
        predictor_num_heads: int (`"model"` only); defaults to the released
            predictor's (12 for its 384 width).
        model_kwargs: dict of further `VJEPA` arguments (`"model"` only:
            masks, loss, EMA schedule, ...).
        **config_overrides: backbone arguments to set (`num_frames`,
            `image_size`: nominal sizes; the RoPE takes any).

    Returns:
        `VideoViTBackbone` (or `VJEPA`), every weight from the checkpoint.
    """
    from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone

    if component == "model":
        from keras_layerlock.converters.vjepa2_pretraining import convert_official_model

        return convert_official_model(source, num_heads, predictor_num_heads, model_kwargs,
                                      **config_overrides)
    _refuse_model_arguments(predictor_num_heads, model_kwargs)
    state, component = official_encoder_state(read_checkpoint(source), component)
    backbone = VideoViTBackbone(**official_backbone_config(state, num_heads, **config_overrides))
    assign_strictly(state, official_encoder_mapping(backbone), f"V-JEPA 2 {component}")
    return backbone


def _refuse_model_arguments(predictor_num_heads, model_kwargs):
    if predictor_num_heads is not None or model_kwargs is not None:
        raise ValueError("`predictor_num_heads` and `model_kwargs` describe a whole V-JEPA 2 "
                         "model: pass them with component='model'.")


def official_qkv(block_prefix):
    """Mapping of the fused `attn.qkv` of official block `{i}`."""
    def qkv(i, block):
        key = f"{block_prefix}.{i}.attn.qkv"
        mapping = [((key + ".weight",), block.qkv.kernel, transpose)]
        if block.qkv.bias is not None:
            mapping.append(((key + ".bias",), block.qkv.bias, same))
        return mapping
    return qkv


def official_encoder_mapping(backbone):
    """Keys of the official V-JEPA / V-JEPA 2 encoder (the two share them)
    to `backbone`'s variables."""
    names = {"norm1": "blocks.{}.norm1", "norm2": "blocks.{}.norm2",
             "proj": "blocks.{}.attn.proj", "fc1": "blocks.{}.mlp.fc1",
             "fc2": "blocks.{}.mlp.fc2"}
    mapping = embedding_and_norm_mapping(backbone, "patch_embed.proj", "norm")
    return mapping + block_mapping(backbone.transformer_layers, names, official_qkv("blocks"))


def transformers_layer_names(layer):
    """Sub-layer keys of a `transformers` `VJEPA2Layer` (`layer` has `{}`)."""
    return {"norm1": layer + ".norm1", "norm2": layer + ".norm2",
            "proj": layer + ".attention.proj", "fc1": layer + ".mlp.fc1",
            "fc2": layer + ".mlp.fc2"}


def transformers_qkv(layer_prefix):
    """Mapping of the separate query / key / value of `transformers` layer `{i}`."""
    def qkv(i, block):
        keys = tuple(f"{layer_prefix}.{i}.attention.{n}" for n in ("query", "key", "value"))
        mapping = [(tuple(k + ".weight" for k in keys), block.qkv.kernel, concatenated_kernel)]
        if block.qkv.bias is not None:
            mapping.append((tuple(k + ".bias" for k in keys), block.qkv.bias,
                            concatenated_bias))
        return mapping
    return qkv


def transformers_encoder_mapping(backbone):
    """Keys of `transformers`' `VJEPA2Model` encoder to `backbone`'s variables."""
    mapping = embedding_and_norm_mapping(
        backbone, "encoder.embeddings.patch_embeddings.proj", "encoder.layernorm")
    return mapping + block_mapping(backbone.transformer_layers,
                                   transformers_layer_names("encoder.layer.{}"),
                                   transformers_qkv("encoder.layer"))


def convert_vjepa2_transformers(source, num_heads=None, component="encoder",
                                predictor_num_heads=None, model_kwargs=None,
                                **config_overrides):
    """A `VideoViTBackbone` holding the encoder of a `transformers`
    `VJEPA2Model` (or `VJEPA2ForVideoClassification`) state dict, or a
    `VJEPA2Model` as a `VJEPA` model.

    Args:
        source: a Hugging Face model folder (`config.json` beside
            `model.safetensors` / `pytorch_model.bin`; the number of heads,
            crop size, frames and LayerNorm epsilon are read from it), a
            weights file, or a `state_dict()`.
        num_heads: int; from `config.json` when there is one, else the
            released model of that width.
        component: `"encoder"` (default) or `"model"`: a `VJEPA` whose
            context and target encoders both hold the encoder (the model
            has one) and whose predictor holds the predictor.
        predictor_num_heads: int (`"model"` only); from `config.json` when
            there is one.
        model_kwargs: dict of further `VJEPA` arguments (`"model"` only).
        **config_overrides: backbone arguments to set.

    Returns:
        `VideoViTBackbone` (or `VJEPA`). For the encoder, the predictor and
        a classification head's pooler are left out.
    """
    from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone

    if component not in ("encoder", "model"):
        raise ValueError(f"`component` must be 'encoder' or 'model'; received {component!r}.")
    checkpoint = read_checkpoint(source)
    other_parts = TRANSFORMERS_OTHER_COMPONENTS
    if component == "model":
        other_parts = tuple(p for p in other_parts if p != "predictor.")
    else:
        _refuse_model_arguments(predictor_num_heads, model_kwargs)
    state = encoder_part(checkpoint, "vjepa2.", other_parts)
    hf_config = transformers_config(source)
    if hf_config:
        num_heads = num_heads or hf_config.get("num_attention_heads")
        predictor_num_heads = predictor_num_heads or hf_config.get("pred_num_attention_heads")
        activation = hf_config.get("hidden_act", "gelu")
        if activation not in TRANSFORMERS_ACTIVATIONS:
            raise ValueError(f"config.json's hidden_act={activation!r} has no counterpart here; "
                             f"known: {sorted(TRANSFORMERS_ACTIVATIONS)}.")
        config_overrides = {
            "activation": TRANSFORMERS_ACTIVATIONS[activation],
            "num_frames": hf_config.get("frames_per_clip", 16),
            "image_size": hf_config.get("crop_size", 256),
            "layer_norm_epsilon": hf_config.get("layer_norm_eps", 1e-6),
            **config_overrides,
        }
    layer = "encoder.layer.{}"
    config = backbone_config(
        state, "encoder.embeddings.patch_embeddings.proj.weight", r"encoder\.layer\.(\d+)\.",
        layer + ".mlp.fc1.weight",
        tuple(layer + f".attention.{n}.bias" for n in ("query", "key", "value")),
        "encoder.layernorm.weight", num_heads, **config_overrides)
    if component == "model":
        from keras_layerlock.converters.vjepa2_pretraining import convert_transformers_model

        return convert_transformers_model(state, config, predictor_num_heads, model_kwargs)
    backbone = VideoViTBackbone(**config)
    assign_strictly(state, transformers_encoder_mapping(backbone),
                    "transformers VJEPA2Model encoder")
    return backbone
