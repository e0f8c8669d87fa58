"""Layout maps and the memory estimate, without devices to spread over."""

import keras
import pytest

import keras_layerlock as kl
from keras_layerlock.distribution.memory_estimate import StackSpec
from keras_layerlock.distribution.memory_estimate import estimate


def mesh():
    # A mesh is a description: layout maps need no devices (PyTorch has none
    # for `keras.distribution`).
    return keras.distribution.DeviceMesh((1, 1), ("batch", "model"), ["cpu:0"])


def test_layout_map_covers_every_block_kernel_of_every_pretraining_model():
    layout_map = kl.LayerLockMAE.get_layout_map(mesh())
    model = kl.VJEPA(kl.VideoViTBackbone.from_preset("video_vit_micro"), predictor_num_layers=1,
                     predictor_hidden_dim=16)
    mae = kl.LayerLockMAE(kl.VideoViTBackbone.from_preset("video_vit_micro"), decoder="mae",
                          decoder_num_layers=1, decoder_hidden_dim=16)
    for variable in model.weights + mae.weights:
        layout = layout_map[variable.path]
        if variable.path.endswith(("qkv/kernel", "mlp_intermediate/kernel")):
            assert layout.axes == ("batch", "model"), variable.path
        elif variable.path.endswith(("attention_output/kernel", "mlp_output/kernel")):
            assert layout.axes == ("model", "batch"), variable.path
        elif variable.path.endswith(("/gamma", "/beta", "mask_token", "step")):
            assert layout is None, variable.path
        if layout is not None:
            assert len(layout.axes) == len(variable.shape), variable.path
    backbone_map = kl.VideoViTBackbone.get_layout_map(mesh())
    assert backbone_map["transformer_layer_0/qkv/kernel"].axes == ("batch", "model")
    assert backbone_map["predictor/input_projection/kernel"] is None


def test_a_mesh_without_the_named_axes_is_refused_with_the_fix():
    other = keras.distribution.DeviceMesh((1,), ("data",), ["cpu:0"])
    with pytest.raises(ValueError, match=r"`model_parallel_dim_name='model'` is not an axis of "
                                         r"the device mesh, whose axes are \('data',\)"):
        kl.VideoViTBackbone.get_layout_map(other)
    with pytest.raises(ValueError, match="must be a keras.distribution.DeviceMesh"):
        kl.LayerLockMAE.get_layout_map("mesh")


def test_memory_estimate_responds_to_sharding_remat_and_freezing():
    stacks = [StackSpec(12, 768, 3072, 12, 400), StackSpec(4, 768, 3072, 12, 1568)]
    base = estimate(stacks, 10**6, batch=64)
    assert base["total"] == pytest.approx(sum(v for k, v in base.items() if k != "total"))
    sharded = estimate(stacks, 10**6, batch=64, model_shards=2, data_shards=4)
    assert sharded["weights"] == pytest.approx(base["weights"] / 8)
    assert sharded["optimizer"] == pytest.approx(base["optimizer"] / 8)
    assert estimate(stacks, 10**6, 64, remat=True)["activations"] < base["activations"] / 4
    frozen = estimate(stacks, 10**6, 64, num_frozen_layers=6)
    assert frozen["gradients"] < base["gradients"] and frozen["optimizer"] == base["optimizer"]
    assert frozen["activations"] < base["activations"]
    no_flash = estimate(stacks, 10**6, 64, flash_attention=False)
    assert no_flash["activations"] > base["activations"]
