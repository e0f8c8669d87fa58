"""Per-device memory of a pretraining step, estimated analytically.

What a device holds while training a ViT with AdamW under the library's
layout maps (weights split over `model_shards x data_shards` devices,
ZeRO-3 style, the batch over `data_shards`):

- weights in float32 (4 bytes per parameter), their gradients (4, for
  trainable weights only: LayerLock's frozen blocks have none), AdamW's two
  moments (8; kept for frozen weights too, so checkpoints keep one layout),
  and an EMA teacher's copy of the encoder (4, V-JEPA);
- activations kept for the backward pass, per block (Korthikanti et al.,
  "Reducing Activation Recomputation in Large Transformer Models", 2022,
  Sec. 4.1, 16-bit activations, tensor parallel over `t` model shards):
  `s * b * h * (10 + 24 / t)` bytes plus `5 * a * s^2 * b / t` for the
  attention scores, which a fused (flash) attention kernel does not store;
  with rematerialisation only each block's input (`2 * s * b * h`) and one
  block's working set. Frozen blocks run forward only and keep nothing.

`s` is the number of tokens a block sees (visible tokens for an MAE
encoder, all tokens for LayerLock's decoder blocks), `b` the per-device
batch, `h` the width, `a` the heads. The estimate ignores the input
pipeline, XLA's temporary buffers and fragmentation: treat it as a lower
bound for choosing a mesh, and measure (`tools/estimate_memory.py
--check` compares it with XLA's own accounting on small models).
"""

import dataclasses

# Bytes per parameter.
WEIGHT, GRADIENT, ADAM_MOMENTS, EMA_COPY = 4, 4, 8, 4
GIB = 1024 ** 3


@dataclasses.dataclass
class StackSpec:
    """One stack of identical blocks run on `tokens` tokens per clip."""

    num_layers: int
    hidden_dim: int
    intermediate_dim: int
    num_heads: int
    tokens: int
    trainable: bool = True
    keeps_activations: bool = True  # False: forward only (a teacher)

    @property
    def params_per_layer(self):
        h, m = self.hidden_dim, self.intermediate_dim
        return 4 * h * h + 2 * h * m + 9 * h + m  # qkv, proj, MLP, norms, biases


def activation_bytes_per_layer(stack, batch, model_shards, flash_attention, bytes_per_value=2):
    """Korthikanti et al.'s per-block activation bytes (16-bit by default)."""
    s, b, h, a, t = stack.tokens, batch, stack.hidden_dim, stack.num_heads, model_shards
    scale = bytes_per_value / 2
    # MLP width enters through the 24 / t term for a 4h MLP; scale it by m / 4h.
    mlp_ratio = stack.intermediate_dim / (4 * h)
    dense = s * b * h * (10 + (8 + 16 * mlp_ratio) / t) * scale
    scores = 0 if flash_attention else 5 * a * s * s * b / t * scale
    return dense + scores


def estimate(stacks, other_params, batch, model_shards=1, data_shards=1, remat=False,
             flash_attention=True, num_frozen_layers=0, ema_params=0, bytes_per_value=2):
    """Per-device bytes of one training step.

    Args:
        stacks: list of `StackSpec` (encoder, decoder, predictor, ...).
        other_params: parameters outside the stacks (embeddings, heads).
        batch: global batch.
        model_shards, data_shards: mesh axes sizes.
        remat: rematerialised blocks.
        flash_attention: a fused attention kernel (no stored scores).
        num_frozen_layers: frozen blocks of the first stack (LayerLock).
        ema_params: parameters of an EMA teacher.
        bytes_per_value: activation precision (2: bf16, 4: float32).

    Returns:
        dict of byte counts: `weights`, `gradients`, `optimizer`, `teacher`,
        `activations`, `total`.
    """
    devices = model_shards * data_shards
    per_device_batch = batch / data_shards
    params = other_params + sum(s.num_layers * s.params_per_layer for s in stacks)
    frozen_params = 0
    activations = 0.0
    largest_block = 0.0
    for i, stack in enumerate(stacks):
        frozen = num_frozen_layers if i == 0 else 0
        if not stack.trainable:
            frozen = stack.num_layers
        frozen_params += frozen * stack.params_per_layer
        if not stack.keeps_activations:
            continue
        live = stack.num_layers - frozen
        per_layer = activation_bytes_per_layer(stack, per_device_batch, model_shards,
                                               flash_attention, bytes_per_value)
        largest_block = max(largest_block, per_layer)
        if remat:
            activations += live * bytes_per_value * stack.tokens * per_device_batch * (
                stack.hidden_dim / model_shards)
        else:
            activations += live * per_layer
    if remat:
        activations += largest_block
    result = {
        "weights": WEIGHT * params / devices,
        "gradients": GRADIENT * (params - frozen_params) / devices,
        "optimizer": ADAM_MOMENTS * params / devices,
        "teacher": EMA_COPY * ema_params / devices,
        "activations": activations,
    }
    result["total"] = sum(result.values())
    return result
