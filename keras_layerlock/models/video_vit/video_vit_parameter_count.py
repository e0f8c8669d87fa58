from keras_layerlock.utils.video_patches import normalize_patch_size


def video_vit_parameter_count(
    hidden_dim,
    num_layers,
    intermediate_dim,
    patch_size=(2, 16, 16),
    num_frames=16,
    image_size=224,
    num_channels=3,
    position_encoding="rope3d",
    use_qkv_bias=True,
    use_final_norm=False,
    **unused_config,
):
    """Exact parameter count of a `VideoViTBackbone`, without building it.

    Takes the backbone's constructor arguments (a `get_config()` dict or a
    preset config can be passed with `**`), so the paper-scale models can be
    sized on any machine.

    Args:
        hidden_dim, num_layers, intermediate_dim, patch_size, num_frames,
        image_size, num_channels, position_encoding, use_qkv_bias,
        use_final_norm: as in `VideoViTBackbone`.
        **unused_config: other backbone arguments (they add no parameters).

    Returns:
        int.

    Example:
    ```python
    config = VideoViTBackbone.preset_config("4ds_vit_g")
    video_vit_parameter_count(**config)  # 1,843,920,512
    ```
    """
    t, ph, pw = normalize_patch_size(patch_size)
    d, m = int(hidden_dim), int(intermediate_dim)
    count = t * ph * pw * int(num_channels) * d + d  # tubelet kernel + bias
    if position_encoding == "learned":
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        frames = max(int(num_frames), t)
        count += (frames // t) * (image_size[0] // ph) * (image_size[1] // pw) * d
    block = (
        2 * 2 * d  # two LayerNorms (scale and offset)
        + d * 3 * d + (3 * d if use_qkv_bias else 0)  # fused qkv
        + d * d + d  # attention output
        + d * m + m  # MLP in
        + m * d + d  # MLP out
    )
    count += int(num_layers) * block
    if use_final_norm:
        count += 2 * d
    return count
