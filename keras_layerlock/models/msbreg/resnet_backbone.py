# The stages of He et al. (2016), Table 1: blocks per stage and block type.
RESNET_DEPTHS = {
    18: ([2, 2, 2, 2], "basic_block"),
    34: ([3, 4, 6, 3], "basic_block"),
    50: ([3, 4, 6, 3], "bottleneck_block"),
    101: ([3, 4, 23, 3], "bottleneck_block"),
}


def resnet_backbone(depth=18, image_shape=(None, None, 3), **kwargs):
    """keras-hub's `ResNetBackbone` in the configuration of a ResNet-`depth`.

    MSBReg's and BYOL's backbones (ResNet-18 on ImageNet-100 and CIFAR,
    ResNet-50 on ImageNet), built from their architecture alone: keras-hub's
    named ResNet presets live on Kaggle, which this builds without. A 7 x 7
    stem of 64 filters, four stages of 64 / 128 / 256 / 512 filters with
    strides 1 / 2 / 2 / 2, post-activation blocks (ResNet v1); the output
    is the last stage's feature map, which MSBReg mean-pools.

    Args:
        depth: int, one of `RESNET_DEPTHS` (18, 34, 50, 101).
        image_shape: tuple `(H, W, C)`; `None` sides take any size.
        **kwargs: other `ResNetBackbone` arguments (`dtype`, `name`).

    Returns:
        `keras_hub.models.ResNetBackbone`, randomly initialised (11.2 M
        parameters for ResNet-18, 23.6 M for ResNet-50).

    Example:
    ```python
    backbone = keras_layerlock.models.resnet_backbone(18, image_shape=(32, 32, 3))
    model = keras_layerlock.MSBReg(backbone, num_views=4)
    ```
    """
    import keras_hub

    if isinstance(depth, bool) or depth not in RESNET_DEPTHS:
        raise ValueError(f"`depth` must be one of {sorted(RESNET_DEPTHS)}; received {depth!r}.")
    num_blocks, block_type = RESNET_DEPTHS[depth]
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512], stackwise_num_blocks=num_blocks,
        stackwise_num_strides=[1, 2, 2, 2], block_type=block_type, use_pre_activation=False,
        image_shape=tuple(image_shape), **kwargs,
    )
