"""V-JEPA (1) encoders: the official `.pth.tar` checkpoints
(facebookresearch/jepa).

Facts the mapping rests on (facebookresearch/jepa,
`src/models/vision_transformer.py`, `src/models/utils/pos_embs.py`,
`configs/pretrain/*.yaml`):

- the file holds `encoder`, `predictor` and `target_encoder` state dicts
  (plus `opt`, `scaler`, `epoch`, ...), each key with a `module.backbone.`
  prefix (DistributedDataParallel around the multi-mask wrapper); the
  released evaluations read `target_encoder`;
- encoder keys: `patch_embed.proj` (a `Conv3d`, weight `(D, C, t, p, p)`),
  `pos_embed` `(1, N, D)`, `blocks.{i}.norm1`, `blocks.{i}.attn.qkv`
  (query | key | value stacked on the output axis, with a bias),
  `blocks.{i}.attn.proj`, `blocks.{i}.norm2`, `blocks.{i}.mlp.fc1` /
  `fc2`, `norm`;
- `pos_embed` is a fixed (not trained) 3-D sine-cosine table of the
  training grid, `[time | height | width]` channels; the released models
  use its "uniform power" layout (three equal shares). For any other grid
  the encoder resizes the table with `interpolate(..., mode="trilinear")`
  (`align_corners=False`); this library's `sincos3d` encoding with
  `sincos_grid_interpolation=True` computes the same values;
- exact GELU, LayerNorm epsilon 1e-6, ImageNet mean / std on the input, an
  image evaluated as 16 repeated frames.

The converter checks that `pos_embed` is that table (and finds the grid it
was made for) instead of copying it: a checkpoint whose table is something
else is refused, naming the key.
"""

import numpy as np

from keras_layerlock.converters.checkpoint_files import read_checkpoint
from keras_layerlock.converters.strict_assignment import CheckpointMismatchError
from keras_layerlock.converters.strict_assignment import assign_strictly
from keras_layerlock.converters.vit_mapping import encoder_geometry
from keras_layerlock.converters.vjepa2 import official_encoder_mapping
from keras_layerlock.converters.vjepa2 import official_encoder_state
from keras_layerlock.models.video_vit.video_vit_presets import IMAGENET_MEAN
from keras_layerlock.models.video_vit.video_vit_presets import IMAGENET_STD

# Heads of the released encoders by width (ViT-L/16, ViT-H/16).
VJEPA_NUM_HEADS = {1024: 16, 1280: 16}
POSITION_KEY = "pos_embed"
# The official table is float64 NumPy stored as float32.
TABLE_TOLERANCE = 1e-5


def sincos_table(grid_shape, hidden_dim, uniform_power):
    """V-JEPA's 3-D sine-cosine table `(T' * H' * W', hidden_dim)` of a grid,
    in float64, as `get_3d_sincos_pos_embed` computes it."""
    from keras_layerlock.layers.sincos_position_embedding_3d import SinCosPositionEmbedding3D

    dims = SinCosPositionEmbedding3D(uniform_power=uniform_power).axis_dims(hidden_dim)
    grids = np.meshgrid(*(np.arange(g, dtype="float64") for g in grid_shape), indexing="ij")
    parts = []
    for coordinate, n in zip(grids, dims):
        omega = 1.0 / 10000.0 ** (np.arange(n // 2, dtype="float64") / (n / 2.0))
        angles = coordinate.reshape(-1, 1) * omega
        parts += [np.sin(angles), np.cos(angles)]
    return np.concatenate(parts, axis=1)[:, :hidden_dim]


def table_layout(table):
    """The `(grid_shape, uniform_power)` whose V-JEPA table `table` is.

    Args:
        table: the checkpoint's `pos_embed`, `(1, N, D)` or `(N, D)`.

    Raises:
        CheckpointMismatchError: when no square-grid V-JEPA table of
            either layout matches, naming the key.
    """
    table = np.asarray(table, "float64")
    stored_shape = table.shape
    table = table.reshape(table.shape[-2:]) if table.ndim == 3 and table.shape[0] == 1 else table
    if table.ndim != 2:
        raise CheckpointMismatchError(
            f"mis-shaped key {POSITION_KEY!r} {np.shape(table)}: V-JEPA's table is (1, N, D).")
    num_positions, hidden_dim = table.shape
    side = 1
    while side * side <= num_positions:
        if num_positions % (side * side) == 0:
            grid = (num_positions // (side * side), side, side)
            for uniform_power in (True, False):
                try:
                    expected = sincos_table(grid, hidden_dim, uniform_power)
                except ValueError:
                    continue
                if np.max(np.abs(expected - table)) <= TABLE_TOLERANCE:
                    return grid, uniform_power
        side += 1
    raise CheckpointMismatchError(
        f"{POSITION_KEY!r} {stored_shape} is not V-JEPA's fixed 3-D sine-cosine table of any "
        f"square grid with {num_positions} cells (either channel layout); this converter "
        "reproduces that table and would not give this checkpoint's features. Nothing was "
        "loaded."
    )


def convert_vjepa(source, component=None, num_heads=None, **config_overrides):
    """A `VideoViTBackbone` holding an official V-JEPA (1) encoder.

    Args:
        source: path of the `.pth.tar` checkpoint (or its loaded dict, or
            one bare encoder state dict).
        component: `"target_encoder"` (default: what the released
            evaluations use) or `"encoder"`.
        num_heads: int; defaults to the released model of that width (16
            for ViT-L/16 and ViT-H/16).
        **config_overrides: backbone arguments to set.

    Returns:
        `VideoViTBackbone` with the `sincos3d` encoding of the checkpoint's
        table (grid and channel layout read from `pos_embed`), interpolated
        to other grids as the official encoder does.
    """
    from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone

    if component not in (None, "target_encoder", "encoder"):
        raise ValueError("`component` must be 'target_encoder' (the default) or 'encoder' for "
                         f"V-JEPA checkpoints; received {component!r}. (Only V-JEPA 2 "
                         "checkpoints convert into a whole VJEPA model.)")
    state, component = official_encoder_state(read_checkpoint(source), component)
    if POSITION_KEY not in state:
        raise CheckpointMismatchError(
            f"The V-JEPA {component} has no {POSITION_KEY!r}; its keys begin "
            f"{sorted(state)[:5]}. (A V-JEPA 2 checkpoint, which has none, converts with "
            "source='vjepa2'.)")
    state = dict(state)
    table = state.pop(POSITION_KEY)
    geometry = encoder_geometry(state, "patch_embed.proj.weight", r"blocks\.(\d+)\.",
                                "blocks.{}.mlp.fc1.weight", "V-JEPA", VJEPA_NUM_HEADS, num_heads)
    geometry.pop("blocks")
    tubelet, patch_h, patch_w = geometry["patch_size"]
    grid, uniform_power = table_layout(table)
    config = {
        **geometry,
        "num_frames": grid[0] * tubelet,
        "image_size": (grid[1] * patch_h, grid[2] * patch_w),
        "position_encoding": "sincos3d",
        "sincos_uniform_power": uniform_power,
        "sincos_grid_interpolation": True,
        "use_qkv_bias": "blocks.0.attn.qkv.bias" in state,
        "use_final_norm": "norm.weight" in state,
        "activation": "gelu",
        "layer_norm_epsilon": 1e-6,
        "input_mean": IMAGENET_MEAN,
        "input_std": IMAGENET_STD,
        # V-JEPA's image evaluation repeats an image to 16 frames.
        "image_num_frames": 16 if 16 % tubelet == 0 else None,
        **config_overrides,
    }
    backbone = VideoViTBackbone(**config)
    assign_strictly(state, official_encoder_mapping(backbone), f"V-JEPA {component}")
    return backbone
