import pytest

import keras_layerlock as kl
from keras_layerlock.recipes import RECIPES
from keras_layerlock.recipes import build
from keras_layerlock.recipes import recipe_callbacks
from keras_layerlock.recipes import scaled_schedule

LAYERLOCK_RECIPES = sorted(name for name, recipe in RECIPES.items() if "schedule" in recipe)
TWO_VIEW_RECIPES = sorted(set(RECIPES) - set(LAYERLOCK_RECIPES))


@pytest.mark.parametrize("name", LAYERLOCK_RECIPES)
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


def test_the_two_view_recipes_build_their_models_with_the_papers_settings():
    assert TWO_VIEW_RECIPES == ["tiny_mae_sim_siam", "tiny_mae_vic_reg", "tiny_vic_mae",
                                "vic_mae_vit_b", "vic_mae_vit_l"]
    paper = RECIPES["vic_mae_vit_l"]
    assert paper["optimizer"]["learning_rate"] == pytest.approx(1.5e-4 * 4096 / 256)
    assert paper["optimizer"]["weight_decay"] == 0.05 and paper["batch_size"] == 4096
    expected = {"tiny_vic_mae": kl.ViCMAE, "tiny_mae_sim_siam": kl.MAESimSiam,
                "tiny_mae_vic_reg": kl.MAEVICReg}
    for name, cls in expected.items():
        model, schedule, optimizer = build(name, total_steps=80)
        assert type(model) is cls and schedule is None
        assert model.global_loss_start_step == 20  # a quarter of the run, as the paper
        assert model.backbone.use_class_token == (cls is not kl.ViCMAE)
        assert optimizer.beta_2 == 0.95
