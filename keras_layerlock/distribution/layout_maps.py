"""`keras.distribution.LayoutMap`s for the library's models.

The sharding follows keras-hub's `GemmaBackbone.get_layout_map` (the Gemma
team's training layout): in every transformer block, the kernels that widen
the token (`qkv`, `mlp_intermediate`) are split over the model axis on
their output and over the data axis on their input, the kernels that
narrow it back (`attention_output`, `mlp_output`) the other way round, so
that each block needs one all-reduce per half and the weights are also
spread over the data-parallel replicas (ZeRO-3 style). The patterns match
variable paths anywhere in a model, so one map covers the online encoder,
the EMA teacher (whose variables carry the same paths: it is sharded like
its online twin), the MAE decoder's and the V-JEPA predictor's blocks; the
optimizer's moments take the layout of their variable. Norms, biases of
narrowing layers and small tokens stay replicated.

Every sharded dimension must be divisible by its mesh axis.
"""

import keras

# Any prefix (a task model's sub-layer, the teacher, the decoder ...).
_ANY = r"(.*/)?"
_BLOCK = _ANY + r"(transformer_layer_\d+|block_\d+)/"


def check_mesh_axes(device_mesh, model_parallel_dim_name, data_parallel_dim_name):
    """Raises a clear error when the mesh lacks the axes named."""
    if not isinstance(device_mesh, keras.distribution.DeviceMesh):
        raise ValueError(
            "`device_mesh` must be a keras.distribution.DeviceMesh; received "
            f"{type(device_mesh).__name__}.")
    for name, argument in ((model_parallel_dim_name, "model_parallel_dim_name"),
                           (data_parallel_dim_name, "data_parallel_dim_name")):
        if name not in device_mesh.axis_names:
            raise ValueError(
                f"`{argument}={name!r}` is not an axis of the device mesh, whose axes are "
                f"{tuple(device_mesh.axis_names)}. Build the mesh with that axis, e.g. "
                "DeviceMesh((num_replicas, num_shards), ('batch', 'model'), devices).")


def backbone_layouts(model_dim, data_dim):
    """`{path regex: axes}` for a `VideoViTBackbone` (and any other stack of
    the library's `TransformerBlock`s)."""
    return {
        _BLOCK + r"qkv/kernel": (data_dim, model_dim),
        _BLOCK + r"qkv/bias": (model_dim,),
        _BLOCK + r"mlp_intermediate/kernel": (data_dim, model_dim),
        _BLOCK + r"mlp_intermediate/bias": (model_dim,),
        _BLOCK + r"attention_output/kernel": (model_dim, data_dim),
        _BLOCK + r"mlp_output/kernel": (model_dim, data_dim),
        # Tubelet projection (t, p, p, C, D): its output channels.
        _ANY + r"patch_embedding/kernel": (None, None, None, None, model_dim),
        # A learned table (cells, D): its channels, as the tokens it joins.
        _ANY + r"position_embedding/embeddings": (None, model_dim),
    }


def head_layouts(model_dim, data_dim):
    """`{path regex: axes}` for the projections around the decoders and
    predictors and the output heads of the pretraining models."""
    return {
        # Encoder width -> decoder width: widening, as `qkv`.
        _ANY + r"(decoder|predictor)/input_projection/kernel": (data_dim, model_dim),
        # Back to encoder width / to pixels / to targets: split on the input.
        _ANY + r"(decoder|predictor)/output_projection/kernel": (model_dim, data_dim),
        _ANY + r"(pixel_head|latent_head(_\d+)?)/kernel": (model_dim, None),
    }


def layout_map(device_mesh, layouts):
    """A `LayoutMap` on `device_mesh` holding `layouts`."""
    result = keras.distribution.LayoutMap(device_mesh)
    for pattern, axes in layouts.items():
        result[pattern] = axes
    return result


def video_vit_layout_map(device_mesh, model_parallel_dim_name="model",
                         data_parallel_dim_name="batch"):
    """The `VideoViTBackbone` layout map (see the module docstring)."""
    check_mesh_axes(device_mesh, model_parallel_dim_name, data_parallel_dim_name)
    return layout_map(device_mesh, backbone_layouts(model_parallel_dim_name,
                                                    data_parallel_dim_name))


def pretraining_layout_map(device_mesh, model_parallel_dim_name="model",
                           data_parallel_dim_name="batch"):
    """The layout map of a pretraining model: its encoder, EMA teacher,
    decoder or predictor blocks, and heads."""
    check_mesh_axes(device_mesh, model_parallel_dim_name, data_parallel_dim_name)
    layouts = backbone_layouts(model_parallel_dim_name, data_parallel_dim_name)
    layouts.update(head_layouts(model_parallel_dim_name, data_parallel_dim_name))
    return layout_map(device_mesh, layouts)
