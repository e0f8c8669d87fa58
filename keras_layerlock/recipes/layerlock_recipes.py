"""LayerLock configurations: the papers' and a tiny one that runs on a CPU.

Each recipe gives the backbone preset, the `LayerLockMAE` (or, with
`"kind": "vjepa"`, `VJEPA`) arguments, the
`LayerLockSchedule` and the optimizer settings. Paper values come from the
LayerLock supplementary material (Erdogan et al., 2025, Tables 8-10) and the
4DS recipe it builds on (AdamW, lr 3e-4, 10 k warm-up steps, b1 0.9,
b2 0.95, weight decay 0.05, batch 2048, 224 x 224, 16 frames).

Usage:
    from keras_layerlock.recipes import RECIPES, build
    model, schedule, optimizer = build("tiny", total_steps=600)
"""

import keras

import keras_layerlock as kl


def _4ds(backbone, first_freeze):
    """LayerLock's 4DS ViT-G / ViT-e recipe (supplementary Table 8)."""
    return {
        "backbone": backbone,
        "model": {"num_decoder_layers": 4, "mask_ratio": 0.95},
        "schedule": {
            "num_steps_before_first_freeze": first_freeze,
            "num_steps_between_freezes": 10_000,
            "num_layers_per_freeze": 1,
            "target_layers": list(range(1, 33)),
        },
        "optimizer": {"learning_rate": 3e-4, "warmup_steps": 10_000, "weight_decay": 0.05},
        "total_steps": 488_282,
        "batch_size": 2048,
    }


RECIPES = {
    # The paper gives 160-200 k steps before the first freeze for both.
    "4ds_vit_g": _4ds("4ds_vit_g", 160_000),
    "4ds_vit_e": _4ds("4ds_vit_e", 200_000),
    "ablation_vit_g_250m": {
        "backbone": "video_vit_g",
        "model": {"num_decoder_layers": 4, "mask_ratio": 0.95},
        "schedule": {
            "num_steps_before_first_freeze": 25_000,
            "num_steps_between_freezes": 20_000,
            "num_layers_per_freeze": 5,
            "target_layers": [4, 8, 12, 16],
        },
        "optimizer": {"learning_rate": 1e-4, "warmup_steps": 5_000, "weight_decay": 0.0},
        "batch_size": 2048,
    },
    "ablation_vit_g_56m": {
        "backbone": "video_vit_g",
        "model": {"num_decoder_layers": 4, "mask_ratio": 0.95},
        "schedule": {
            "num_steps_before_first_freeze": 19_000,
            "num_steps_between_freezes": 30_000,
            "num_layers_per_freeze": 5,
            "target_layers": list(range(4, 45, 4)),
            # 11 events x 5 blocks would pass the 44-block encoder: capped.
            "max_frozen_layers": 44,
        },
        "optimizer": {"learning_rate": 1e-4, "warmup_steps": 5_000, "weight_decay": 0.0},
        "batch_size": 128,
    },
    "ablation_vit_b_50m": {
        "backbone": "video_vit_b",
        "model": {"num_decoder_layers": 4, "mask_ratio": 0.95},
        "schedule": {
            "num_steps_before_first_freeze": 6_000,
            "num_steps_between_freezes": 4_000,
            "num_layers_per_freeze": 2,
            "target_layers": [1, 3, 5, 7],
        },
        "optimizer": {"learning_rate": 3e-4, "warmup_steps": 2_000, "weight_decay": 1e-3},
        "batch_size": 512,
    },
    # Runs here: 8 x 32 x 32 clips, 64 tokens, so a 0.75 mask ratio keeps
    # 16 visible tokens (0.95 would keep 3). Encoder of 4 blocks + 4 decoder.
    # Pixel targets both normalised per patch (MAE's norm_pix_loss) and raw:
    # measured on the procedural suite after 1,500 steps (linear probes on
    # block 2, 4,096 clips, validation accuracy; random init: appearance
    # 0.36, motion 0.28), raw targets alone give appearance 0.34 / motion
    # 0.45, normalised alone 0.63 / 0.19, both 0.53 / 0.41. Raw pixels in [0, 1]
    # vary about 16 times less than normalised ones, hence the weight.
    "tiny": {
        "backbone": "video_vit_tiny",
        "model": {"num_decoder_layers": 4, "mask_ratio": 0.75, "norm_pix_loss": True,
                  "raw_pixel_loss_weight": 16.0},
        "schedule": {
            "num_steps_before_first_freeze": 300,
            "num_steps_between_freezes": 100,
            "num_layers_per_freeze": 1,
            "target_layers": [1, 2, 3],
        },
        "optimizer": {"learning_rate": 1e-3, "warmup_steps": 50, "weight_decay": 0.05},
        "total_steps": 600,
        "batch_size": 16,
    },
    # LayerLock on V-JEPA, ViT-L (LayerLock supplementary Table 9, with
    # V-JEPA's optimiser: peak lr 6.25e-4, weight decay 0.04 -> 0.4, EMA
    # 0.998 -> 1.0; 12-layer predictor; 8 blocks at 30 %).
    "vjepa_vit_l": {
        "kind": "vjepa",
        "backbone": "vjepa_vit_l",
        "model": {
            "predictor_num_layers": 12,
            "predictor_hidden_dim": 384,
            "masks": "layerlock",
            "ema_momentum": (0.998, 1.0),
        },
        "schedule": {
            "num_steps_before_first_freeze": 100_000,
            "num_steps_between_freezes": 6_000,
            "num_layers_per_freeze": 1,
            "target_layers": list(range(1, 25)),
        },
        "optimizer": {"learning_rate": 6.25e-4, "warmup_steps": 10_000,
                      "weight_decay": (0.04, 0.4)},
        "total_steps": 262_500,
        "batch_size": 3072,
    },
    # The tiny V-JEPA: the tiny MAE's 8 blocks, 4 encoding and 4 predicting
    # (`predictor="layerlock"`, as the MAE's decoder), an EMA teacher,
    # LayerLock's pixel start, the first freeze at two thirds of the run.
    # Each choice measured in the main job's protocol (README, V-JEPA
    # section; floor: motion 0.29, appearance 0.39): a separate predictor
    # (V-JEPA's, any width or depth tried) leaves appearance at or below
    # the floor (0.26-0.34); so do masks that are tubes through the whole
    # clip (V-JEPA's multiblock masks: 0.38 with this predictor; the MAE
    # with tube masks: 0.40). One-token blocks, each one time step long
    # (88 of them hide about 75 % of the 4 x 4 x 4 grid, as the MAE's
    # random masking does), give 0.43 with the first freeze at half the
    # run and 0.48 at two thirds; motion 0.45 in both. Starting from the
    # teacher's output or its block 1 instead of the pixels reads out at
    # the floor; VJ-VCR's variance / covariance terms during the pixel
    # phase trade motion for appearance at every weight tried (0.02-5).
    "tiny_vjepa": {
        "kind": "vjepa",
        "backbone": "video_vit_tiny",
        "model": {
            "predictor": "layerlock",
            "predictor_num_layers": 4,
            "masks": [{"num_blocks": 88, "spatial_scale": 0.0625, "aspect_ratio": (1.0, 1.0),
                       "temporal_scale": 0.25}],
            "ema_momentum": (0.998, 1.0),
            "initial_target_layer": "pixels",
            "norm_pix_loss": True,
            "raw_pixel_loss_weight": 16.0,
        },
        "schedule": {
            "num_steps_before_first_freeze": 400,
            "num_steps_between_freezes": 100,
            "num_layers_per_freeze": 1,
            "target_layers": [1, 2, 3],
        },
        "optimizer": {"learning_rate": 1e-3, "warmup_steps": 50, "weight_decay": (0.04, 0.4)},
        "total_steps": 600,
        "batch_size": 16,
    },
}


def _vic_mae_paper(backbone, kind="vic_mae"):
    # ViC-MAE's pre-training (its supplement, Table 1): AdamW, base lr
    # 1.5e-4 x batch / 256, weight decay 0.05, betas (0.9, 0.95), batch
    # 4096, 800 epochs with 40 of warm-up and cosine decay, lambda 0 until
    # epoch 200; frames in 16 x 16 patches. Steps for ImageNet-1k's 1.28 M
    # images: 312.5 per epoch. Keras' Dense layers start from
    # xavier_uniform (glorot_uniform), the paper's initialisation.
    steps_per_epoch = 1_281_167 / 4096
    return {
        "kind": kind,
        "backbone": backbone,
        "backbone_overrides": {"patch_size": (1, 16, 16),
                               "use_class_token": kind != "vic_mae"},
        "model": {"mask_ratio": 0.75, "decoder": "mae", "norm_pix_loss": True,
                  "global_loss_weight": 0.025},
        "global_loss_start_fraction": 200 / 800,
        "optimizer": {"learning_rate": 1.5e-4 * 4096 / 256,
                      "warmup_steps": int(40 * steps_per_epoch), "weight_decay": 0.05},
        "total_steps": int(800 * steps_per_epoch),
        "batch_size": 4096,
    }


def _tiny_two_view(kind):
    # The tiny MAE's backbone, decoder, pixel targets and optimizer (equal
    # budget in the main job), each view a frame tiled to the tubelet depth
    # (16 tokens, 4 visible), frames 2-7 apart in the 8-frame clips, and
    # the paper's lambda switched on after a quarter of the run. The
    # paper's learning-rate rule would give 9e-6 at batch 16: the tiny
    # MAE's 1e-3 instead.
    return {
        "kind": kind,
        "backbone": "video_vit_tiny",
        "backbone_overrides": {"use_class_token": kind != "vic_mae"},
        "model": {"num_decoder_layers": 4, "decoder": "layerlock", "mask_ratio": 0.75,
                  "norm_pix_loss": True, "raw_pixel_loss_weight": 16.0, "min_gap": 2,
                  "global_loss_weight": 0.025},
        "global_loss_start_fraction": 0.25,
        "optimizer": {"learning_rate": 1e-3, "warmup_steps": 50, "weight_decay": 0.05},
        "total_steps": 600,
        "batch_size": 16,
    }


RECIPES.update({
    "vic_mae_vit_b": _vic_mae_paper("video_vit_b"),
    "vic_mae_vit_l": _vic_mae_paper("video_vit_l"),
    "tiny_vic_mae": _tiny_two_view("vic_mae"),
    "tiny_mae_sim_siam": _tiny_two_view("mae_sim_siam"),
    "tiny_mae_vic_reg": _tiny_two_view("mae_vic_reg"),
})

TWO_VIEW_KINDS = {"vic_mae": "ViCMAE", "mae_sim_siam": "MAESimSiam", "mae_vic_reg": "MAEVICReg"}


def build(name, total_steps=None, **backbone_overrides):
    """`(model, schedule, optimizer)` for a recipe (random initialisation).

    The learning rate follows 4DS: linear warm-up, then cosine decay over
    `total_steps`; `LayerLockMAE.compile` adds the re-warm-up after each
    target switch. Two-view recipes (ViC-MAE and its baselines) switch
    their global loss on after `global_loss_start_fraction` of
    `total_steps`, and have no LayerLock schedule (None).
    """
    recipe = RECIPES[name]
    total_steps = total_steps or recipe.get("total_steps", 100_000)
    overrides = dict(recipe.get("backbone_overrides", {}), **backbone_overrides)
    backbone = kl.VideoViTBackbone.from_preset(recipe["backbone"], **overrides)
    kind = recipe.get("kind", "mae")
    if kind == "vjepa":
        model = kl.VJEPA(backbone, ema_steps=total_steps, **recipe["model"])
    elif kind in TWO_VIEW_KINDS:
        start = int(round(recipe.get("global_loss_start_fraction", 0.0) * total_steps))
        model = getattr(kl, TWO_VIEW_KINDS[kind])(
            backbone, global_loss_start_step=start, **recipe["model"])
    else:
        model = kl.LayerLockMAE(backbone, **recipe["model"])
    opt = recipe["optimizer"]
    weight_decay = opt["weight_decay"]
    if isinstance(weight_decay, (tuple, list)):
        weight_decay = weight_decay[0]  # `recipe_callbacks` schedules the rest
    warmup = min(opt["warmup_steps"], max(1, total_steps // 10))
    learning_rate = keras.optimizers.schedules.CosineDecay(
        0.0, max(1, total_steps - warmup), alpha=0.0,
        warmup_target=opt["learning_rate"], warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(
        learning_rate, weight_decay=weight_decay or None, beta_1=0.9, beta_2=0.95
    )
    # Two-view recipes have no LayerLock schedule of their own.
    schedule = kl.LayerLockSchedule(**recipe["schedule"]) if "schedule" in recipe else None
    return model, schedule, optimizer


def recipe_callbacks(name, total_steps=None):
    """Callbacks a recipe needs besides LayerLock's (weight-decay schedule)."""
    recipe = RECIPES[name]
    total_steps = total_steps or recipe.get("total_steps", 100_000)
    weight_decay = recipe["optimizer"]["weight_decay"]
    if isinstance(weight_decay, (tuple, list)):
        return [kl.WeightDecayScheduler(weight_decay[0], weight_decay[1], total_steps)]
    return []


def scaled_schedule(name, total_steps):
    """The recipe's `LayerLockSchedule` stretched to `total_steps` steps.

    For the small recipes: the event steps scale with the run length (the
    recipe's own `total_steps` is the reference).
    """
    recipe = RECIPES[name]
    scale = total_steps / recipe["total_steps"]
    config = dict(recipe["schedule"])
    for key in ("num_steps_before_first_freeze", "num_steps_between_freezes"):
        config[key] = max(1, int(round(config[key] * scale)))
    return kl.LayerLockSchedule(**config)
