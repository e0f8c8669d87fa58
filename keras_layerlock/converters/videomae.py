"""VideoMAE encoders: the original `.pth` checkpoints (MCG-NJU/VideoMAE) and
`transformers`' `VideoMAEModel` / `VideoMAEForVideoClassification` /
`VideoMAEForPreTraining` state dicts.

Facts the mapping rests on (MCG-NJU/VideoMAE `modeling_finetune.py` and
`modeling_pretrain.py`; `transformers.models.videomae`):

- original keys: `patch_embed.proj` (a `Conv3d`), `blocks.{i}.norm1`,
  `blocks.{i}.attn.qkv.weight` (no bias) with `attn.q_bias` and
  `attn.v_bias` (the key has no bias: the fused bias is `(q_bias, 0,
  v_bias)`), `attn.proj`, `norm2`, `mlp.fc1` / `fc2`; pretraining
  checkpoints put the encoder under `encoder.` with a final `encoder.norm`
  (beside `decoder.*`, `encoder_to_decoder`, `mask_token`); fine-tuned ones
  have no final norm but `fc_norm` and `head` after mean pooling. The
  state dict is under `model` or `module`.
- `transformers` keys: `embeddings.patch_embeddings.projection`,
  `encoder.layer.{i}.{layernorm_before, attention.attention.query / key /
  value, attention.output.dense, layernorm_after, intermediate.dense,
  output.dense}`, `layernorm` (pretraining checkpoints,
  `use_mean_pooling=False`); a `videomae.` prefix in the task models.
- the position table is VideoMAE's 1-D sine-cosine over the flattened
  `(t, h, w)` token index (`angle = i / 10000 ** (2 * (j // 2) / D)`, sine
  on even channels, cosine on odd ones); it is in no checkpoint, so it is
  regenerated into this library's `learned` table for the configured grid.
- exact GELU; LayerNorm epsilon 1e-6 in the original code and
  `layer_norm_eps` (1e-12 by default) in `transformers`; ImageNet mean /
  std on the input.
"""

import numpy as np

from keras_layerlock.converters.checkpoint_files import encoder_part
from keras_layerlock.converters.checkpoint_files import read_checkpoint
from keras_layerlock.converters.checkpoint_files import transformers_config
from keras_layerlock.converters.strict_assignment import CheckpointMismatchError
from keras_layerlock.converters.strict_assignment import assign_strictly
from keras_layerlock.converters.vit_mapping import block_mapping
from keras_layerlock.converters.vit_mapping import concatenated_kernel
from keras_layerlock.converters.vit_mapping import embedding_and_norm_mapping
from keras_layerlock.converters.vit_mapping import encoder_geometry
from keras_layerlock.converters.vit_mapping import same
from keras_layerlock.converters.vit_mapping import transpose
from keras_layerlock.models.video_vit.video_vit_presets import IMAGENET_MEAN
from keras_layerlock.models.video_vit.video_vit_presets import IMAGENET_STD

# Heads of the released encoders by width (ViT-S, B, L, H, g).
VIDEOMAE_NUM_HEADS = {384: 6, 768: 12, 1024: 16, 1280: 16, 1408: 16}
# Parts of the original checkpoints that are not the encoder.
ORIGINAL_OTHER_PARTS = ("decoder.", "encoder_to_decoder.", "mask_token", "pos_embed")
ORIGINAL_HEAD = ("fc_norm", "head")
TRANSFORMERS_OTHER_PARTS = ("decoder.", "encoder_to_decoder.", "mask_token",
                            "position_embeddings")
TRANSFORMERS_HEAD = ("fc_norm", "classifier")
COMPONENTS = ("encoder", "classifier")
# `nn.LayerNorm`'s default, which transformers' `fc_norm` keeps.
TRANSFORMERS_FC_NORM_EPSILON = 1e-5


def sinusoid_position_table(num_positions, dim):
    """VideoMAE's 1-D sine-cosine table `(num_positions, dim)` (float64
    angles, as the original computes them in NumPy)."""
    position = np.arange(num_positions, dtype="float64")[:, None]
    exponent = 2 * (np.arange(dim) // 2) / dim
    angles = position / np.power(10000.0, exponent)[None, :]
    table = np.empty_like(angles)
    table[:, 0::2] = np.sin(angles[:, 0::2])
    table[:, 1::2] = np.cos(angles[:, 1::2])
    return table.astype("float32")


def _config(state, patch_key, block_pattern, fc1_key, final_norm_key, num_heads, epsilon,
            overrides):
    geometry = encoder_geometry(state, patch_key, block_pattern, fc1_key, "VideoMAE",
                                VIDEOMAE_NUM_HEADS, num_heads)
    geometry.pop("blocks")
    config = {
        **geometry, "num_frames": 16, "image_size": 224, "position_encoding": "learned",
        "use_qkv_bias": True, "use_final_norm": final_norm_key in state, "activation": "gelu",
        "layer_norm_epsilon": epsilon, "input_mean": IMAGENET_MEAN, "input_std": IMAGENET_STD,
    }
    config.update(overrides)
    return config


def _position_mapping(backbone):
    table = backbone.position_embedding.embeddings
    return [((), table, lambda: sinusoid_position_table(*table.shape))]


def query_zero_value_bias(query_bias, value_bias):
    """VideoMAE's fused bias: the key projection has none."""
    return np.concatenate([query_bias, np.zeros_like(query_bias), value_bias])


def _check_component(component):
    if component not in COMPONENTS:
        raise ValueError(f"`component` must be one of {COMPONENTS}; received {component!r}.")


def _other_parts(other_parts, head, component):
    """The known non-encoder parts to leave out: the head too, unless the
    classifier is being converted."""
    return other_parts + (() if component == "classifier" else tuple(h + "." for h in head))


def _classifier(backbone, state, head, epsilon, mapping):
    """A `VideoClassifier` on `backbone` and the mapping of its head
    (`head = (norm, dense)` key prefixes); the checkpoint must have both."""
    from keras_layerlock.models.video_classifier.video_classifier import VideoClassifier

    norm, dense = head
    if f"{dense}.weight" not in state:
        raise CheckpointMismatchError(
            f"missing key '{dense}.weight': `component='classifier'` needs a fine-tuned "
            "checkpoint with a classification head; this one has none (convert its encoder "
            "with component='encoder').")
    if f"{norm}.weight" not in state:
        raise CheckpointMismatchError(
            f"missing key '{norm}.weight': this classifier has no `{norm}` (it pools "
            "differently from VideoMAE's mean pooling + fc_norm), which is not supported.")
    num_classes = int(np.shape(state[f"{dense}.weight"])[0])
    classifier = VideoClassifier(backbone, num_classes, pooling="mean", use_pooled_norm=True,
                                 layer_norm_epsilon=epsilon)
    mapping = mapping + [
        ((f"{norm}.weight",), classifier.pooled_norm.gamma, same),
        ((f"{norm}.bias",), classifier.pooled_norm.beta, same),
        ((f"{dense}.weight",), classifier.head.kernel, transpose),
        ((f"{dense}.bias",), classifier.head.bias, same)]
    return classifier, mapping


def convert_videomae(source, num_heads=None, component="encoder", **config_overrides):
    """A `VideoViTBackbone` holding the encoder of an original VideoMAE
    checkpoint (pretraining or fine-tuned), or the whole fine-tuned
    classifier.

    Args:
        source: path of the `.pth` (or its loaded dict).
        num_heads: int; defaults to the released model of that width.
        component: `"encoder"` (default) or `"classifier"`: a fine-tuned
            checkpoint as a `VideoClassifier` (mean pooling, `fc_norm`
            with epsilon 1e-6, `head`).
        **config_overrides: backbone arguments; `num_frames` and
            `image_size` (defaults 16 and 224) fix the grid of the
            regenerated position table, so set them to the checkpoint's
            (e.g. `image_size=384` for a 384-pixel fine-tune).

    Returns:
        `VideoViTBackbone`: final LayerNorm for pretraining checkpoints,
        none for fine-tuned ones (their `fc_norm` and `head` belong to the
        classification head and are left out); with
        `component="classifier"`, a `VideoClassifier` holding it.
    """
    from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone

    _check_component(component)
    checkpoint = read_checkpoint(source)
    for key in ("model", "module", "state_dict"):
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    prefix = "encoder." if "encoder.patch_embed.proj.weight" in checkpoint else ""
    state = encoder_part(checkpoint, prefix,
                         _other_parts(ORIGINAL_OTHER_PARTS, ORIGINAL_HEAD, component))
    config = _config(state, "patch_embed.proj.weight", r"blocks\.(\d+)\.",
                     "blocks.{}.mlp.fc1.weight", "norm.weight", num_heads, 1e-6, config_overrides)
    backbone = VideoViTBackbone(**config)

    def qkv(i, block):
        return [((f"blocks.{i}.attn.qkv.weight",), block.qkv.kernel, transpose),
                ((f"blocks.{i}.attn.q_bias", f"blocks.{i}.attn.v_bias"), block.qkv.bias,
                 query_zero_value_bias)]

    names = {"norm1": "blocks.{}.norm1", "norm2": "blocks.{}.norm2",
             "proj": "blocks.{}.attn.proj", "fc1": "blocks.{}.mlp.fc1",
             "fc2": "blocks.{}.mlp.fc2"}
    mapping = embedding_and_norm_mapping(backbone, "patch_embed.proj", "norm")
    mapping += _position_mapping(backbone) + block_mapping(backbone.transformer_layers, names, qkv)
    model = backbone
    if component == "classifier":
        model, mapping = _classifier(backbone, state, ORIGINAL_HEAD, 1e-6, mapping)
    assign_strictly(state, mapping, f"VideoMAE {component}")
    return model


def convert_videomae_transformers(source, num_heads=None, component="encoder",
                                  **config_overrides):
    """A `VideoViTBackbone` holding the encoder of a `transformers`
    `VideoMAEModel`, `VideoMAEForVideoClassification` or
    `VideoMAEForPreTraining` state dict.

    Args:
        source: a Hugging Face model folder (`config.json` gives the heads,
            frames, image size and LayerNorm epsilon), a weights file or a
            `state_dict()`.
        num_heads: int; from `config.json` when there is one.
        component: `"encoder"` (default) or `"classifier"`: a
            `VideoMAEForVideoClassification` with `use_mean_pooling=True`
            as a `VideoClassifier` (`fc_norm` epsilon 1e-5, PyTorch's
            default, which transformers keeps).
        **config_overrides: backbone arguments.

    Returns:
        `VideoViTBackbone` (a final LayerNorm when the checkpoint has one,
        i.e. `use_mean_pooling=False`); a classifier's `fc_norm` and
        `classifier`, and the pretraining decoder, are left out. With
        `component="classifier"`, a `VideoClassifier` holding it.
    """
    from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone

    _check_component(component)
    epsilon = 1e-12
    hf = transformers_config(source)
    if hf:
        if hf.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"config.json's hidden_act={hf['hidden_act']!r}: only 'gelu' "
                             "(exact) VideoMAE encoders are supported.")
        num_heads = num_heads or hf.get("num_attention_heads")
        epsilon = hf.get("layer_norm_eps", epsilon)
        config_overrides = {"num_frames": hf.get("num_frames", 16),
                            "image_size": hf.get("image_size", 224), **config_overrides}
    epsilon = config_overrides.pop("layer_norm_epsilon", epsilon)
    state = encoder_part(read_checkpoint(source), "videomae.",
                         _other_parts(TRANSFORMERS_OTHER_PARTS, TRANSFORMERS_HEAD, component))
    layer = "encoder.layer.{}"
    config = _config(state, "embeddings.patch_embeddings.projection.weight",
                     r"encoder\.layer\.(\d+)\.", layer + ".intermediate.dense.weight",
                     "layernorm.weight", num_heads, epsilon, config_overrides)
    backbone = VideoViTBackbone(**config)

    def qkv(i, block):
        attention = f"encoder.layer.{i}.attention.attention."
        keys = [attention + n for n in ("query", "key", "value")]
        # The Hub's files keep the original `q_bias` / `v_bias` names; a
        # `state_dict()` in memory has `query.bias` / `value.bias`.
        biases = ((attention + "q_bias", attention + "v_bias")
                  if attention + "q_bias" in state else (keys[0] + ".bias", keys[2] + ".bias"))
        return [(tuple(k + ".weight" for k in keys), block.qkv.kernel, concatenated_kernel),
                (biases, block.qkv.bias, query_zero_value_bias)]

    names = {"norm1": layer + ".layernorm_before", "norm2": layer + ".layernorm_after",
             "proj": layer + ".attention.output.dense", "fc1": layer + ".intermediate.dense",
             "fc2": layer + ".output.dense"}
    mapping = embedding_and_norm_mapping(backbone, "embeddings.patch_embeddings.projection",
                                         "layernorm")
    mapping += _position_mapping(backbone) + block_mapping(backbone.transformer_layers, names, qkv)
    model = backbone
    if component == "classifier":
        model, mapping = _classifier(backbone, state, TRANSFORMERS_HEAD,
                                     TRANSFORMERS_FC_NORM_EPSILON, mapping)
    assign_strictly(state, mapping, f"transformers VideoMAE {component}")
    return model
