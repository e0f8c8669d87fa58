"""Analytic FLOPs of a LayerLock training step.

Counts multiply-adds as 2 FLOPs in the matrix products and attention (the
terms that dominate a ViT); layer norms, softmax and element-wise ops are
left out. A trainable block costs its forward pass three times (forward,
gradients with respect to inputs and to weights); a frozen block, run
forward only, costs it once. The patch embedding skips the input gradient.
"""


def transformer_block_forward_flops(num_tokens, hidden_dim, intermediate_dim):
    """Forward FLOPs of one pre-LN block over `num_tokens` tokens."""
    n, d, m = num_tokens, hidden_dim, intermediate_dim
    return 8 * n * d * d + 4 * n * n * d + 4 * n * d * m


def layerlock_step_flops(model, input_shape):
    """FLOPs of one training step of a `LayerLockMAE` in its current state.

    Args:
        model: a `LayerLockMAE`.
        input_shape: `(batch, frames, height, width, channels)`.

    Returns:
        dict with `total` and the parts `embedding`, `frozen_visible`,
        `trainable_encoder`, `targets`, `decoder`, `head`.
    """
    backbone = model.backbone
    batch = input_shape[0]
    gt, gh, gw = backbone.grid_shape(input_shape)
    num_tokens = gt * gh * gw
    visible = model.num_visible_tokens(input_shape)
    masked = num_tokens - visible
    depth, target = model.frozen_depth, model.target_layer
    predicted = masked
    if target > 0:
        predicted = max(1, int(round(masked * model.latent_loss_patch_fraction)))
    d, m = backbone.hidden_dim, backbone.intermediate_dim
    block = lambda n: transformer_block_forward_flops(n, d, m)  # noqa: E731

    embed = 2 * backbone.patch_embedding.patch_dim * d  # per tubelet
    parts = {
        # Only visible tubelets are embedded for the encoder.
        "embedding": embed * visible * (1 if depth > 0 else 2),
        "frozen_visible": depth * block(visible),
        "trainable_encoder": 3 * (model.num_encoder_layers - depth) * block(visible),
        "targets": (embed * num_tokens + target * block(num_tokens)) if target > 0 else 0,
    }
    union = visible + predicted
    if model.decoder == "layerlock":
        parts["decoder"] = 3 * model.num_decoder_layers * block(union)
    else:
        dd, dm = model.decoder_hidden_dim, model.decoder_intermediate_dim
        parts["decoder"] = 3 * (
            model.decoder_num_layers * transformer_block_forward_flops(union, dd, dm)
            + 2 * visible * d * dd
        )
    out_dim = d if target > 0 else backbone.patch_embedding.patch_dim
    parts["head"] = 3 * 2 * predicted * model.query_dim * out_dim
    parts = {k: batch * v for k, v in parts.items()}
    parts["total"] = sum(parts.values())
    return parts
