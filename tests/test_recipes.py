import pytest

import keras_layerlock as kl
from keras_layerlock.recipes import RECIPES
from keras_layerlock.recipes import build
from keras_layerlock.recipes import recipe_callbacks
from keras_layerlock.recipes import scaled_schedule


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_schedule_fits_its_encoder(name):
    recipe = RECIPES[name]
    config = dict(kl.VideoViTBackbone.preset_config(recipe["backbone"]))
    config.update(recipe.get("backbone_overrides", {}))
    model = recipe["model"]
    # Blocks that decode or predict rather than encode.
    if recipe.get("kind", "mae") == "vjepa":
        decoder = model["predictor_num_layers"] if model.get("predictor") == "layerlock" else 0
    else:
        decoder = model.get("num_decoder_layers", 0)
    schedule = kl.LayerLockSchedule(**recipe["schedule"])
    schedule.validate_for(config["num_layers"] - decoder)
    if "total_steps" in recipe:
        assert schedule.num_steps_before_first_freeze < recipe["total_steps"]


@pytest.mark.parametrize("name", ["tiny", "tiny_vjepa"])
def test_small_recipes_build_and_scale(name):
    model, schedule, optimizer = build(name, total_steps=60)
    assert isinstance(model, kl.VJEPA if name == "tiny_vjepa" else kl.LayerLockMAE)
    schedule.validate_for(model.num_encoder_layers)
    scaled = scaled_schedule(name, 60)
    # 60 of the recipe's 600 steps: every event step scales by 0.1.
    expected_first = {"tiny": 30, "tiny_vjepa": 40}[name]
    assert scaled.num_steps_before_first_freeze == expected_first
    assert scaled.num_steps_between_freezes == 10
    callbacks = recipe_callbacks(name, 60)
    assert [type(c) for c in callbacks] == ([kl.WeightDecayScheduler] if name == "tiny_vjepa" else [])
