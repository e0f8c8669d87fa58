"""Architecture presets of `VideoViTBackbone`.

Sizes (width / depth / MLP / heads) are the reference ViT sizes used by the
4DS and LayerLock papers (Carreira et al., "Scaling 4D Representations",
2024; Erdogan et al., "LayerLock", 2025, Sec. 4 and supplementary A). The
generic `video_vit_*` presets use LayerLock's 4DS defaults: patch
`(2, 16, 16)`, 16 x 224 x 224 clips, 3-D RoPE after the first LayerNorm.
The `4ds_vit_*` presets also use the tanh GELU of their Flax implementation;
the `4ds_release_*` presets are the released 4DS checkpoints' encoders;
`vjepa_vit_l` is the V-JEPA encoder of LayerLock's V-JEPA runs (learned
position embeddings, final LayerNorm); the `vjepa2_*` presets are V-JEPA 2's encoders (its RoPE, its input
statistics).
None of these presets carries weights; `register_preset` adds trained ones
(a preset directory or a `kaggle://` / `hf://` handle) under a name.

Each architecture preset is also a keras-hub preset directory in the
package (`presets/<name>/`, written by `tools/write_architecture_presets.py`
from the table below and checked against it by the tests), registered with
keras-hub so that `keras_hub.models.Backbone.from_preset(name)` builds it.
keras-hub's loader always loads weights when `load_weights=True`; the
directory's weight index (`model.weights.json`) maps no weights and says
that it belongs to an architecture preset, and
`VideoViTBackbone.load_weights` accepts such an index as "nothing to load"
(any other index or file must match the model exactly).
"""

import json
import os

from keras_layerlock.models.video_vit.video_vit_parameter_count import video_vit_parameter_count
from keras_layerlock.utils import keras_internals

ARCHITECTURE_PRESETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")
# Presets with weights trained by this library, shipped in the package.
TRAINED_PRESETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trained_presets")
# What the weight index of an architecture preset directory says about itself.
ARCHITECTURE_PRESET_MARKER = "keras_layerlock architecture preset: no weights"

_SIZES = {
    # name: (hidden_dim, num_layers, intermediate_dim, num_heads, label)
    "s": (384, 12, 1536, 6, "ViT-S"),
    "s16": (384, 16, 1536, 6, "ViT-S with 16 layers (convergence analysis)"),
    "b": (768, 12, 3072, 12, "ViT-B"),
    "l": (1024, 24, 4096, 16, "ViT-L"),
    "h": (1280, 32, 5120, 16, "ViT-H"),
    "g": (1664, 48, 8192, 16, "ViT-G"),
    "e": (1792, 56, 15360, 16, "ViT-e"),
}


def _config(size, **overrides):
    hidden_dim, num_layers, intermediate_dim, num_heads, _ = _SIZES[size]
    config = {
        "hidden_dim": hidden_dim,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "intermediate_dim": intermediate_dim,
        "patch_size": (2, 16, 16),
        "num_frames": 16,
        "image_size": 224,
        "position_encoding": "rope3d",
        "rope_placement": "post_norm",
    }
    config.update(overrides)
    return config


def _entry(description, config, paper_params=None):
    metadata = {
        "description": description,
        "has_weights": False,
        "params": video_vit_parameter_count(**config),
    }
    if paper_params is not None:
        metadata["paper_params"] = paper_params
    return {"metadata": metadata, "config": config}


VIDEO_VIT_PRESETS = {
    f"video_vit_{size}": _entry(
        f"{spec[4]} video ViT, 4DS/LayerLock layout, random init.",
        _config(size),
    )
    for size, spec in _SIZES.items()
}
VIDEO_VIT_PRESETS.update(
    {
        "video_vit_tiny": _entry(
            "Tiny video ViT (about 2.5 M parameters) for 8 x 32 x 32 clips "
            "that trains in minutes on a CPU.",
            {
                "hidden_dim": 160,
                "num_layers": 8,
                "num_heads": 4,
                "intermediate_dim": 640,
                "patch_size": (2, 8, 8),
                "num_frames": 8,
                "image_size": 32,
                "position_encoding": "rope3d",
                "rope_placement": "post_norm",
            },
        ),
        "video_vit_micro": _entry(
            "Two-block, 32-wide video ViT for unit tests and smoke runs.",
            {
                "hidden_dim": 32,
                "num_layers": 2,
                "num_heads": 2,
                "intermediate_dim": 64,
                "patch_size": (2, 8, 8),
                "num_frames": 4,
                "image_size": 16,
                "position_encoding": "rope3d",
                "rope_placement": "post_norm",
            },
        ),
        "4ds_vit_g": _entry(
            "4DS-G encoder (ViT-G, 3-D RoPE), as trained by LayerLock.",
            _config("g", activation="gelu_approximate"),
            paper_params={"mae": 1848e6, "layerlock": 1868e6},
        ),
        "4ds_vit_e": _entry(
            "4DS-e encoder (ViT-e, 3-D RoPE), as trained by LayerLock.",
            _config("e", activation="gelu_approximate"),
            paper_params={"mae": 3811e6, "layerlock": 3818e6},
        ),
        # The released 4DS checkpoints (google-deepmind/representations4d):
        # learned (T', h, w) position table, no final norm, [0, 1] input;
        # `keras_layerlock.converters` (source "4ds") loads them.
        "4ds_release_vit_b_dist_e": _entry(
            "4DS-B-dist-e, the released ViT-B distilled from 4DS-e (learned position "
            "table, tanh GELU, no final norm, [0, 1] input); its feature k is layer k - 1.",
            _config("b", position_encoding="learned", activation="gelu_approximate"),
            paper_params={"released": 88e6},
        ),
        "4ds_release_vit_e": _entry(
            "4DS-e, the released ViT-e (learned position table, tanh GELU, no final norm, "
            "[0, 1] input; grid assumed 16 x 224 x 224 as for 4DS-B-dist-e: the converter "
            "reads the grid from the file).",
            _config("e", position_encoding="learned", activation="gelu_approximate"),
            paper_params={"released": 3.8e9},
        ),
        "vjepa_vit_l": _entry(
            "V-JEPA ViT-L/16 encoder as in LayerLock's V-JEPA runs (learned "
            "position embeddings, final LayerNorm).",
            _config(
                "l",
                position_encoding="learned",
                rope_placement="post_norm",
                use_final_norm=True,
            ),
            paper_params={"vjepa": 235e6, "layerlock": 303e6},
        ),
    }
)
# V-JEPA 2 (Assran et al., 2025; facebookresearch/vjepa2): per-head 3-D RoPE
# on queries and keys, final LayerNorm, ImageNet statistics on the input;
# `keras_layerlock.converters` loads the released checkpoints into these.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_VJEPA2_SIZES = {
    # name: (hidden_dim, num_layers, intermediate_dim, num_heads, image_size, label)
    "vjepa2_vit_l": (1024, 24, 4096, 16, 256, "ViT-L/16"),
    "vjepa2_vit_h": (1280, 32, 5120, 16, 256, "ViT-H/16"),
    "vjepa2_vit_g": (1408, 40, 6144, 22, 256, "ViT-g/16"),
    "vjepa2_vit_g_384": (1408, 40, 6144, 22, 384, "ViT-g/16 at 384 x 384"),
}
VIDEO_VIT_PRESETS.update({
    name: _entry(
        f"V-JEPA 2 {label} encoder layout (per-head 3-D RoPE on queries and keys, "
        f"{size} x {size} clips, final LayerNorm, ImageNet input statistics, images "
        "as 16 repeated frames).",
        {
            "hidden_dim": hidden_dim, "num_layers": num_layers, "num_heads": num_heads,
            "intermediate_dim": intermediate_dim, "patch_size": (2, 16, 16),
            "num_frames": 16, "image_size": size, "position_encoding": "rope3d_vjepa2",
            "rope_placement": "qk", "use_final_norm": True,
            "input_mean": IMAGENET_MEAN, "input_std": IMAGENET_STD, "image_num_frames": 16,
        },
    )
    for name, (hidden_dim, num_layers, intermediate_dim, num_heads, size, label)
    in _VJEPA2_SIZES.items()
})


def register_preset(name: str, handle: str, description: str, overwrite: bool = False) -> None:
    """Registers a trained backbone preset under a name.

    `VideoViTBackbone.from_preset(name)` and
    `keras_hub.models.Backbone.from_preset(name)` then load it through
    keras-hub's loader, honouring `load_weights` (every weight loads, or it
    fails), and `VideoViTBackbone.presets[name]` lists its metadata.
    `unregister_preset(name)` removes it.

    Args:
        name: str. The name to register (a word: no `/`).
        handle: str. A preset directory written by `save_to_preset`, or a
            `kaggle://` / `hf://` handle.
        description: str. One line for the preset listing.
        overwrite: bool. Replace an existing registration of `name`.

    Example:
    ```python
    backbone.save_to_preset("./runs/tiny/preset")
    keras_layerlock.models.register_preset(
        "my_tiny", "./runs/tiny/preset", "tiny ViT pretrained with LayerLock")
    trained = keras_layerlock.VideoViTBackbone.from_preset("my_tiny")
    ```
    """
    if not isinstance(name, str) or not name or "/" in name or "://" in name:
        raise ValueError(f"`name` must be a word (no '/'); received {name!r}.")
    if not isinstance(handle, str) or not handle:
        raise ValueError(f"`handle` must be a preset directory or handle; received {handle!r}.")
    if name in VIDEO_VIT_PRESETS and not overwrite:
        raise ValueError(
            f"A preset named {name!r} is already registered. Pass overwrite=True to "
            "replace it, or choose another name."
        )
    metadata = {"description": str(description), "has_weights": True, "path": handle}
    if "://" not in handle:
        if not os.path.isfile(os.path.join(handle, "config.json")):
            raise ValueError(
                f"{handle!r} is not a preset directory (no config.json). Write one with "
                "`backbone.save_to_preset(directory)`."
            )
        handle = os.path.abspath(handle)
        metadata["path"] = handle
        metadata_file = os.path.join(handle, "metadata.json")
        if os.path.exists(metadata_file):
            with open(metadata_file) as f:
                stored = json.load(f)
            if "parameter_count" in stored:
                metadata["params"] = stored["parameter_count"]
    VIDEO_VIT_PRESETS[name] = {"metadata": metadata, "handle": handle}
    keras_internals.register_keras_hub_preset(name, handle, metadata, _backbone_class())


def unregister_preset(name: str) -> None:
    """Removes a preset added with `register_preset`.

    Args:
        name: str. A name registered with `register_preset`.

    Example:
    ```python
    keras_layerlock.models.unregister_preset("my_tiny")
    ```
    """
    if "handle" not in VIDEO_VIT_PRESETS.get(name, {}):
        registered = sorted(k for k, v in VIDEO_VIT_PRESETS.items() if "handle" in v)
        raise ValueError(
            f"{name!r} was not added with `register_preset` (built-in architecture "
            f"presets cannot be removed); registered: {registered}."
        )
    del VIDEO_VIT_PRESETS[name]
    keras_internals.unregister_keras_hub_preset(name, _backbone_class())


def architecture_preset_files(name: str) -> dict:
    """The files of the packaged keras-hub directory of an architecture preset.

    Args:
        name: str. A built-in architecture preset (`VideoViTBackbone.presets`).

    Returns:
        dict of file name -> JSON-serialisable content: `config.json` (the
        backbone's serialised config), `metadata.json` and
        `model.weights.json` (a Keras sharded-weights index mapping no
        weights, marked as an architecture preset's).

    Example:
    ```python
    files = architecture_preset_files("video_vit_tiny")
    files["config.json"]["config"]["hidden_dim"]  # 160
    ```
    """
    entry = VIDEO_VIT_PRESETS.get(name)
    if entry is None or "config" not in entry:
        architectures = sorted(k for k, v in VIDEO_VIT_PRESETS.items() if "config" in v)
        raise ValueError(
            f"{name!r} is not a built-in architecture preset; those are: {architectures}."
        )
    config = {key: list(value) if isinstance(value, tuple) else value
              for key, value in entry["config"].items()}
    return {
        "config.json": {
            "module": "keras_layerlock.models.video_vit.video_vit_backbone",
            "class_name": "VideoViTBackbone",
            "config": config,
            "registered_name": "keras_layerlock>VideoViTBackbone",
        },
        "metadata.json": {
            "description": entry["metadata"]["description"],
            "parameter_count": entry["metadata"]["params"],
            "has_weights": False,
        },
        "model.weights.json": {
            "metadata": {"description": ARCHITECTURE_PRESET_MARKER},
            "weight_map": {},
        },
    }


def is_architecture_preset_weight_index(filepath) -> bool:
    """Whether `filepath` is the weight index of a packaged architecture preset."""
    filepath = str(filepath)
    if not filepath.endswith(".weights.json") or not os.path.isfile(filepath):
        return False
    try:
        with open(filepath, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError):
        return False
    return (
        isinstance(index, dict)
        and index.get("weight_map") == {}
        and index.get("metadata", {}).get("description") == ARCHITECTURE_PRESET_MARKER
    )


def register_architecture_presets(backbone_cls) -> None:
    """Registers the packaged architecture presets with keras-hub."""
    for name, entry in VIDEO_VIT_PRESETS.items():
        directory = os.path.join(ARCHITECTURE_PRESETS_DIR, name)
        if "config" in entry and os.path.isdir(directory):
            metadata = {**entry["metadata"], "path": name}
            keras_internals.register_keras_hub_preset(name, directory, metadata, backbone_cls)


def register_trained_presets() -> None:
    """Registers the packaged trained presets (`trained_presets/<name>/`,
    written by `tools/ship_trained_preset.py`) by name, with their weights."""
    if not os.path.isdir(TRAINED_PRESETS_DIR):
        return
    for name in sorted(os.listdir(TRAINED_PRESETS_DIR)):
        directory = os.path.join(TRAINED_PRESETS_DIR, name)
        metadata_file = os.path.join(directory, "metadata.json")
        if not os.path.isfile(metadata_file):
            continue
        with open(metadata_file) as f:
            stored = json.load(f)
        register_preset(name, directory, stored.get("description", name), overwrite=True)
        VIDEO_VIT_PRESETS[name]["metadata"].update(
            {key: stored[key] for key in ("trained_on", "results", "command") if key in stored})


def _backbone_class():
    # Imported here: the backbone module imports this one.
    from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone

    return VideoViTBackbone
