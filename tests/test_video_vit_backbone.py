import json
import os

import keras
import keras_hub
import numpy as np
import pytest
from testing_utils import keras_file_round_trip
from testing_utils import to_numpy

import keras_layerlock as kl
from keras_layerlock.models.video_vit.video_vit_parameter_count import video_vit_parameter_count
from keras_layerlock.models.video_vit.video_vit_presets import ARCHITECTURE_PRESETS_DIR
from keras_layerlock.models.video_vit.video_vit_presets import VIDEO_VIT_PRESETS
from keras_layerlock.models.video_vit.video_vit_presets import architecture_preset_files
from keras_layerlock.models.video_vit.video_vit_presets import is_architecture_preset_weight_index
from keras_layerlock.utils import gather_positions
from keras_layerlock.utils import gather_tokens

POSITION_ENCODINGS = {
    "rope3d_post_norm": dict(position_encoding="rope3d", rope_placement="post_norm"),
    "rope3d_qk": dict(position_encoding="rope3d", rope_placement="qk"),
    "rope3d_vjepa2": dict(position_encoding="rope3d_vjepa2"),
    "learned": dict(position_encoding="learned", use_final_norm=True),
    "sincos3d": dict(position_encoding="sincos3d"),
}


def tiny_backbone(**overrides):
    config = dict(
        hidden_dim=48,
        num_layers=3,
        num_heads=2,
        intermediate_dim=64,
        patch_size=(2, 8, 8),
        num_frames=4,
        image_size=16,
    )
    config.update(overrides)
    return kl.VideoViTBackbone(**config)


def videos(shape=(2, 4, 16, 16, 3), seed=0):
    return np.random.default_rng(seed).random(shape, dtype="float32")


@pytest.mark.parametrize("name", sorted(POSITION_ENCODINGS))
def test_video_and_image_shapes(name):
    backbone = tiny_backbone(**POSITION_ENCODINGS[name])
    features = backbone(videos())
    assert len(features) == backbone.num_layers + 1
    for f in features:
        assert tuple(f.shape) == (2, 2 * 2 * 2, 48)
    if name != "learned":  # learned tables fix the grid
        image_features = backbone(videos((3, 16, 24, 3)))
        assert tuple(image_features[-1].shape) == (3, 1 * 2 * 3, 48)
        longer = backbone(videos((1, 8, 32, 16, 3)))
        assert tuple(longer[-1].shape) == (1, 4 * 4 * 2, 48)


@pytest.mark.parametrize("patch", [(1, 4, 4), (4, 16, 16), (2, 4, 8), 8])
def test_any_patch_size_that_divides(patch):
    backbone = tiny_backbone(patch_size=patch, num_layers=1)
    t, p, q = kl.utils.video_grid_shape((1, 4, 16, 16, 3), patch)
    assert tuple(backbone(videos())[-1].shape) == (2, t * p * q, 48)


def test_features_are_block_outputs_in_depth_order():
    backbone = tiny_backbone()
    x = videos()
    features = to_numpy(backbone(x))
    tokens, positions = backbone.embed(x)
    np.testing.assert_allclose(features[0], to_numpy(tokens), atol=1e-6)
    h = tokens
    for depth, block in enumerate(backbone.transformer_layers, start=1):
        assert block.name == f"transformer_layer_{depth - 1}"
        assert backbone.get_layer(f"transformer_layer_{depth - 1}") is block
        h = block(h, positions)
        np.testing.assert_allclose(features[depth], to_numpy(h), atol=1e-5)


@pytest.mark.parametrize(
    "shape,message",
    [
        ((2, 16, 16), "rank 3"),
        ((2, 4, 16, 16, 4), "Expected 3 channels"),
        ((2, 3, 16, 16, 3), "frames=3 is not divisible by 2"),
        ((2, 4, 12, 16, 3), "height=12 is not divisible by 8"),
        ((2, 4, 16, 18, 3), "width=18 is not divisible by 8"),
        ((0, 4, 16, 16, 3), "empty batch"),
    ],
)
def test_bad_inputs_raise_value_error(shape, message):
    backbone = tiny_backbone(num_layers=1)
    with pytest.raises(ValueError, match=message) as info:
        backbone(np.zeros(shape, "float32"))
    assert str(shape) in str(info.value)


def test_learned_grid_mismatch_and_bad_config():
    backbone = tiny_backbone(position_encoding="learned", num_layers=1)
    with pytest.raises(ValueError, match=r"grid of \(2, 2, 2\).*\(4, 2, 2\)"):
        backbone(videos((1, 8, 16, 16, 3)))
    with pytest.raises(ValueError, match="position_encoding"):
        tiny_backbone(position_encoding="alibi")
    with pytest.raises(ValueError, match="rope_placement='qk'"):
        tiny_backbone(position_encoding="rope3d_vjepa2", rope_placement="post_norm")
    with pytest.raises(ValueError, match="image_size=.*not divisible"):
        tiny_backbone(image_size=20)
    with pytest.raises(ValueError, match="start_layer"):
        backbone.encode(np.zeros((1, 8, 48), "float32"), np.zeros((8, 3)), 2, 1)


@pytest.mark.parametrize("name", sorted(POSITION_ENCODINGS))
def test_masked_token_path_equals_attention_masked_full_run(name):
    backbone = tiny_backbone(**POSITION_ENCODINGS[name])
    x = videos((2, 4, 32, 16, 3), seed=3) if name != "learned" else videos(seed=3)
    tokens, positions = backbone.embed(x)
    num_tokens = tokens.shape[1]
    rng = np.random.default_rng(0)
    keep = np.stack([np.sort(rng.permutation(num_tokens)[:5]) for _ in range(2)])
    keep[1] = keep[1][::-1]  # order of the kept tokens must not matter
    subset = backbone.encode(
        gather_tokens(tokens, keep), gather_positions(positions, keep)
    )
    key_mask = np.zeros((2, num_tokens), bool)
    np.put_along_axis(key_mask, keep, True, axis=1)
    full = backbone.encode(tokens, positions, attention_mask=key_mask)
    for s, f in zip(subset, full):
        expected = np.take_along_axis(to_numpy(f), keep[..., None], axis=1)
        np.testing.assert_allclose(to_numpy(s), expected, atol=2e-5)
    # Without the mask the hidden tokens leak in: the check above can fail.
    leaky = np.take_along_axis(
        to_numpy(backbone.encode(tokens, positions)[-1]), keep[..., None], axis=1
    )
    assert np.abs(leaky - to_numpy(subset[-1])).max() > 1e-3


@pytest.mark.parametrize("name", ["rope3d_post_norm", "rope3d_vjepa2", "learned"])
def test_config_and_keras_file_round_trip(name, tmp_path):
    backbone = tiny_backbone(name="my_backbone", **POSITION_ENCODINGS[name])
    config = backbone.get_config()
    clone = kl.VideoViTBackbone.from_config(config)
    assert clone.get_config() == config
    json.dumps(config)
    restored = keras_file_round_trip(backbone, tmp_path, videos(), atol=1e-6)
    assert restored.name == "my_backbone"
    assert restored.position_encoding == backbone.position_encoding


def test_presets_build_and_save_to_preset_directory(tmp_path):
    assert {"video_vit_s", "video_vit_b", "video_vit_l", "video_vit_h",
            "video_vit_g", "video_vit_e", "video_vit_tiny", "video_vit_micro",
            "4ds_vit_g", "4ds_vit_e", "vjepa_vit_l"} <= set(kl.VideoViTBackbone.presets)
    backbone = kl.VideoViTBackbone.from_preset("video_vit_micro", image_size=32)
    assert backbone.image_size == (32, 32) and backbone.num_layers == 2
    preset_dir = os.path.join(str(tmp_path), "micro")
    backbone.save_to_preset(preset_dir)
    assert {"config.json", "model.weights.h5", "metadata.json"} <= set(os.listdir(preset_dir))
    loaded = kl.VideoViTBackbone.from_preset(preset_dir)
    x = videos((1, 4, 32, 32, 3))
    np.testing.assert_allclose(
        to_numpy(loaded(x)[-1]), to_numpy(backbone(x)[-1]), atol=1e-6
    )
    # keras-hub's base class finds our class through the preset's config.
    generic = keras_hub.models.Backbone.from_preset(preset_dir)
    assert isinstance(generic, kl.VideoViTBackbone)
    with pytest.raises(ValueError, match="Unknown preset"):
        kl.VideoViTBackbone.preset_config("video_vit_zz")


@pytest.mark.parametrize("name", sorted(POSITION_ENCODINGS))
@pytest.mark.parametrize("qkv_bias", [True, False])
def test_parameter_count_matches_built_model(name, qkv_bias):
    backbone = tiny_backbone(use_qkv_bias=qkv_bias, **POSITION_ENCODINGS[name])
    assert kl.video_vit_parameter_count(**backbone.get_config()) == backbone.count_params()


def test_parameter_count_of_tiny_presets_matches_built_models():
    for name in ("video_vit_micro", "video_vit_tiny"):
        backbone = kl.VideoViTBackbone.from_preset(name)
        config = kl.VideoViTBackbone.preset_config(name)
        assert kl.video_vit_parameter_count(**config) == backbone.count_params()


@pytest.mark.parametrize(
    "name,paper_count",
    [("4ds_vit_g", 1848e6), ("4ds_vit_e", 3811e6), ("vjepa_vit_l", 303e6)],
)
def test_paper_configurations_are_within_two_percent(name, paper_count):
    count = kl.video_vit_parameter_count(**kl.VideoViTBackbone.preset_config(name))
    assert abs(count - paper_count) / paper_count < 0.02, count


def test_dtype_policy_reaches_every_layer():
    backbone = tiny_backbone(dtype="mixed_bfloat16", num_layers=1)
    out = backbone(videos())
    assert keras.backend.standardize_dtype(out[-1].dtype) == "bfloat16"
    assert all(v.dtype == "float32" for v in backbone.weights)


def test_unknown_preset_name_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"Unknown preset 'video_vit_tinyy'.*Did you mean 'video_vit_tiny'") as info:
        kl.VideoViTBackbone.from_preset("video_vit_tinyy")
    assert "video_vit_b" in str(info.value)


def seeded_backbone(**overrides):
    keras.utils.set_random_seed(0)
    return tiny_backbone(**overrides)


def test_output_layers_returns_only_what_was_asked(tmp_path):
    x = videos()
    full = [to_numpy(f) for f in seeded_backbone()(x)]
    last = seeded_backbone(output_layers=-1)
    out = last(x)
    assert not isinstance(out, (list, tuple))
    np.testing.assert_allclose(to_numpy(out), full[-1], atol=1e-6)
    predicted = last.predict(x, verbose=0)
    assert isinstance(predicted, np.ndarray) and predicted.shape == full[-1].shape
    pair = seeded_backbone(output_layers=[2, 0])(x)
    assert len(pair) == 2
    np.testing.assert_allclose(to_numpy(pair[0]), full[2], atol=1e-6)
    np.testing.assert_allclose(to_numpy(pair[1]), full[0], atol=1e-6)
    restored = keras_file_round_trip(last, tmp_path, x)
    assert restored.output_layers == -1


def test_forward_intermediates_stops_at_the_deepest_requested_block():
    backbone = tiny_backbone()
    x = videos()
    full = [to_numpy(f) for f in backbone(x)]

    def fail(*args, **kwargs):
        raise AssertionError("a block past the deepest requested layer ran")

    backbone.transformer_layers[-1].call = fail
    (first,) = backbone.forward_intermediates(x, [1])
    np.testing.assert_allclose(to_numpy(first), full[1], atol=1e-6)
    with pytest.raises(AssertionError, match="past the deepest"):
        backbone.forward_intermediates(x, [-1])


@pytest.mark.parametrize("bad", [[], 1.5, "2", [True], [0, 9], -10, [1.0]])
def test_bad_output_layers_say_what_was_received(bad):
    with pytest.raises(ValueError, match="received"):
        tiny_backbone(output_layers=bad)
    with pytest.raises(ValueError, match="received"):
        tiny_backbone().forward_intermediates(videos(), bad)


def test_architecture_presets_load_by_name_through_keras_hub():
    """`keras_hub.models.Backbone.from_preset("video_vit_tiny")` did not know the name."""
    listed = keras_hub.models.Backbone.presets["video_vit_micro"]["metadata"]
    assert listed["params"] == kl.VideoViTBackbone.presets["video_vit_micro"]["params"]
    assert listed["has_weights"] is False
    for load_weights in (True, False):
        backbone = keras_hub.models.Backbone.from_preset(
            "video_vit_micro", load_weights=load_weights, image_size=32)
        assert type(backbone) is kl.VideoViTBackbone
        expected = kl.VideoViTBackbone.from_preset("video_vit_micro", image_size=32)
        assert backbone.get_config() == expected.get_config()
        assert backbone.count_params() == video_vit_parameter_count(**expected.get_config())


def test_packaged_architecture_preset_directories_match_the_table():
    """Run `python tools/write_architecture_presets.py` when this fails."""
    architectures = sorted(
        name for name, entry in VIDEO_VIT_PRESETS.items() if "config" in entry)
    assert sorted(os.listdir(ARCHITECTURE_PRESETS_DIR)) == architectures
    for name in architectures:
        directory = os.path.join(ARCHITECTURE_PRESETS_DIR, name)
        expected = architecture_preset_files(name)
        assert sorted(os.listdir(directory)) == sorted(expected)
        for filename, content in expected.items():
            with open(os.path.join(directory, filename), encoding="utf-8") as f:
                assert json.load(f) == content, (name, filename)


def test_only_the_architecture_marker_makes_an_empty_weight_index_acceptable(tmp_path):
    index = tmp_path / "model.weights.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": {}}))
    assert not is_architecture_preset_weight_index(index)
    packaged = os.path.join(ARCHITECTURE_PRESETS_DIR, "video_vit_micro", "model.weights.json")
    assert is_architecture_preset_weight_index(packaged)


def test_a_registered_trained_preset_loads_its_weights_by_name(tmp_path):
    trained = seeded_backbone()
    trained.save_to_preset(str(tmp_path))
    try:
        kl.models.register_preset("test_trained_tiny", str(tmp_path), "a test preset")
        assert kl.VideoViTBackbone.presets["test_trained_tiny"]["has_weights"]
        # By name through this library and through keras-hub's own entry point.
        for loader in (kl.VideoViTBackbone, keras_hub.models.Backbone):
            loaded = loader.from_preset("test_trained_tiny")
            assert type(loaded) is kl.VideoViTBackbone
            for a, b in zip(trained.weights, loaded.weights):
                np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
            keras.utils.set_random_seed(1)
            fresh = loader.from_preset("test_trained_tiny", load_weights=False)
            assert fresh.get_config() == trained.get_config()
            assert not np.array_equal(to_numpy(fresh.weights[0]), to_numpy(trained.weights[0]))
        assert "test_trained_tiny" in keras_hub.models.Backbone.presets
        with pytest.raises(ValueError, match="already registered"):
            kl.models.register_preset("test_trained_tiny", str(tmp_path), "again")
    finally:
        kl.models.unregister_preset("test_trained_tiny")
    assert "test_trained_tiny" not in kl.VideoViTBackbone.presets
    assert "test_trained_tiny" not in keras_hub.models.Backbone.presets
    with pytest.raises(ValueError, match="was not added with `register_preset`"):
        kl.models.unregister_preset("video_vit_tiny")
    with pytest.raises(ValueError, match="not a preset directory"):
        kl.models.register_preset("test_nothing", str(tmp_path / "missing"), "none")


@pytest.mark.parametrize("override", [{"num_layers": 2}, {"num_layers": 4}])
def test_preset_weights_for_another_depth_are_refused(tmp_path, override):
    """`from_preset(dir, num_layers=2)` of a 3-block preset kept 2 blocks silently."""
    seeded_backbone().save_to_preset(str(tmp_path))
    with pytest.raises(ValueError, match="another architecture.*Nothing was loaded"):
        kl.VideoViTBackbone.from_preset(str(tmp_path), **override)
    kl.VideoViTBackbone.from_preset(str(tmp_path), load_weights=False, **override)


def test_images_repeat_to_image_num_frames_as_v_jepa_2_evaluates_them():
    backbone = kl.VideoViTBackbone.from_preset("video_vit_micro", image_num_frames=4,
                                               position_encoding="rope3d_vjepa2", rope_placement="qk")
    images = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
    repeated = np.repeat(images[:, None], 4, axis=1)
    for a, b in zip(backbone(images), backbone(repeated)):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-6, atol=1e-6)
    assert to_numpy(backbone(images)[-1]).shape == (2, 2 * 2 * 2, 32)
    assert backbone.grid_shape((2, 16, 16, 3)) == (2, 2, 2)
    restored = kl.VideoViTBackbone.from_config(backbone.get_config())
    assert restored.image_num_frames == 4
    for bad in (3, 0, 2.0, True):
        with pytest.raises(ValueError, match="image_num_frames"):
            kl.VideoViTBackbone.from_preset("video_vit_micro", image_num_frames=bad)


def test_packaged_trained_presets_register_by_name_with_their_weights(tmp_path, monkeypatch):
    """What `tools/ship_trained_preset.py` writes into the package
    registers at import by name, loading its weights, with its metadata."""
    from keras_layerlock.models.video_vit import video_vit_presets

    trained = kl.VideoViTBackbone.from_preset("video_vit_micro")
    directory = tmp_path / "shipped_micro"
    trained.save_to_preset(str(directory))
    metadata = json.loads((directory / "metadata.json").read_text())
    metadata.update({"description": "micro, for the test", "results": {"motion": 0.5},
                     "trained_on": {"steps": 3}, "command": "python x.py"})
    (directory / "metadata.json").write_text(json.dumps(metadata))
    monkeypatch.setattr(video_vit_presets, "TRAINED_PRESETS_DIR", str(tmp_path))
    try:
        video_vit_presets.register_trained_presets()
        listed = kl.VideoViTBackbone.presets["shipped_micro"]
        assert listed["has_weights"] and listed["results"] == {"motion": 0.5}
        for loaded in (kl.VideoViTBackbone.from_preset("shipped_micro"),
                       keras_hub.models.Backbone.from_preset("shipped_micro")):
            for a, b in zip(trained.weights, loaded.weights):
                np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)
    finally:
        kl.models.unregister_preset("shipped_micro")


def test_the_shipped_trained_preset_loads_by_name_with_its_weights():
    name = "video_vit_tiny_mae_procedural"
    listed = kl.VideoViTBackbone.presets[name]
    assert listed["has_weights"]
    model_row = listed["results"]["model"]
    floor_row = listed["results"]["random_init_floor"]
    assert model_row["name"] == "mae" and floor_row["name"] == "random_init"
    trained = kl.VideoViTBackbone.from_preset(name)
    again = keras_hub.models.Backbone.from_preset(name)
    random_init = kl.VideoViTBackbone.from_preset("video_vit_tiny")
    assert trained.get_config()["hidden_dim"] == random_init.hidden_dim
    for a, b, c in zip(trained.weights, again.weights, random_init.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)
    moved = [not np.allclose(to_numpy(a), to_numpy(c)) for a, c in
             zip(trained.weights, random_init.weights) if "gamma" not in a.path]
    assert all(moved)  # every weight was trained, none is an initialisation
