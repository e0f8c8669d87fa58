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
    decoder = recipe["model"].get("num_decoder_layers", 0)
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
    assert scaled.num_steps_before_first_freeze == 30
    assert scaled.num_steps_between_freezes == 10
    callbacks = recipe_callbacks(name, 60)
    assert [type(c) for c in callbacks] == ([kl.WeightDecayScheduler] if name == "tiny_vjepa" else [])
