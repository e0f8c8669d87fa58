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
    num_frozen, target = model.num_frozen_layers, model.target_layer
    predicted = masked
    if target > 0:
        predicted = max(1, int(round(masked * model.latent_loss_patch_fraction)))
    d, m = backbone.hidden_dim, backbone.intermediate_dim
    block = lambda n: transformer_block_forward_flops(n, d, m)  # noqa: E731

    embed = 2 * backbone.patch_embedding.patch_dim * d  # per tubelet
    parts = {
        # Only visible tubelets are embedded for the encoder.
        "embedding": embed * visible * (1 if num_frozen > 0 else 2),
        "frozen_visible": num_frozen * block(visible),
        "trainable_encoder": 3 * (model.num_encoder_layers - num_frozen) * block(visible),
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
    out_dim = backbone.patch_embedding.patch_dim
    if target > 0:
        out_dim = d * (target if getattr(model, "target_mode", "newest") == "all" else 1)
    parts["head"] = 3 * 2 * predicted * model.query_dim * out_dim
    parts = {k: batch * v for k, v in parts.items()}
    parts["total"] = sum(parts.values())
    return parts


def vjepa_step_flops(model, input_shape):
    """FLOPs of one training step of a `VJEPA` in its current state.

    Per mask kind: the frozen prefix forward on the context tokens, the
    trainable blocks (x3) on them, and the predictor (x3) over context plus
    target tokens; once per step: the teacher forward on every token up to
    the target block. Padding tokens (see `MultiblockMasking`) count, since
    they are computed.

    Args:
        model: a `VJEPA`.
        input_shape: `(batch, frames, height, width, channels)`.

    Returns:
        dict with `total` and the parts `embedding`, `targets`,
        `frozen_context`, `trainable_encoder`, `predictor`.
    """
    backbone = model.backbone
    batch = input_shape[0]
    grid = backbone.grid_shape(input_shape)
    num_tokens = grid[0] * grid[1] * grid[2]
    d, m = backbone.hidden_dim, backbone.intermediate_dim
    num_frozen = model.num_frozen_layers
    embed = 2 * backbone.patch_embedding.patch_dim * d * num_tokens
    parts = {
        # Online embedding of every token (x3 while it trains), teacher's.
        "embedding": embed * (1 if num_frozen > 0 else 3) + embed,
        "targets": model.num_teacher_blocks * transformer_block_forward_flops(num_tokens, d, m),
        "frozen_context": 0,
        "trainable_encoder": 0,
        "predictor": 0,
    }
    separate = model.predictor is not None
    pd, pm = (model.predictor_hidden_dim, model.predictor_intermediate_dim) if separate else (d, m)
    pixel_dim = backbone.patch_embedding.patch_dim
    for masking in model.maskings:
        context, targets = masking.token_counts(grid)
        block = transformer_block_forward_flops(context, d, m)
        parts["frozen_context"] += num_frozen * block
        parts["trainable_encoder"] += 3 * (model.num_encoder_layers - num_frozen) * block
        flops = model.predictor_num_layers * transformer_block_forward_flops(context + targets, pd, pm)
        if separate:
            # Input and output projections; the pixel head follows the latter.
            flops += 2 * context * d * pd + 2 * targets * pd * d
            if model.predicts_pixels:
                flops += 2 * targets * d * pixel_dim
        else:
            flops += 2 * targets * d * (pixel_dim if model.predicts_pixels else d)
        parts["predictor"] += 3 * flops
    parts = {k: batch * v for k, v in parts.items()}
    parts["total"] = sum(parts.values())
    return parts


def step_flops(model, input_shape):
    """Analytic FLOPs of one training step of a LayerLock MAE or V-JEPA."""
    if hasattr(model, "maskings"):
        return vjepa_step_flops(model, input_shape)
    return layerlock_step_flops(model, input_shape)
