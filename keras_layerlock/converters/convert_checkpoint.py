from keras_layerlock.converters.fourds import convert_4ds
from keras_layerlock.converters.videomae import convert_videomae
from keras_layerlock.converters.videomae import convert_videomae_transformers
from keras_layerlock.converters.vjepa import convert_vjepa
from keras_layerlock.converters.vjepa2 import convert_vjepa2
from keras_layerlock.converters.vjepa2 import convert_vjepa2_transformers

# source name: (converter, what it reads)
CONVERTERS = {
    "vjepa": (convert_vjepa, "official V-JEPA .pth.tar (facebookresearch/jepa): an encoder"),
    "vjepa2": (convert_vjepa2, "official V-JEPA 2 .pt (facebookresearch/vjepa2): an encoder"),
    "vjepa2_transformers": (convert_vjepa2_transformers,
                            "transformers VJEPA2Model / VJEPA2ForVideoClassification: the "
                            "encoder"),
    "videomae": (convert_videomae, "original VideoMAE .pth (MCG-NJU/VideoMAE), pretraining "
                 "or fine-tuned: the encoder"),
    "videomae_transformers": (convert_videomae_transformers,
                              "transformers VideoMAEModel / ForVideoClassification / "
                              "ForPreTraining: the encoder"),
    "4ds": (convert_4ds, "released 4DS .npz (google-deepmind/representations4d): the encoder"),
}


def convert_checkpoint(path, source, preset_dir=None, **kwargs):
    """A publisher's checkpoint as a model of this library, loaded strictly.

    Every key the model needs must be in the checkpoint with the shape it
    needs, and every key of the converted part must be used; otherwise a
    `CheckpointMismatchError` names the missing, unexpected or mis-shaped
    keys and no weight is loaded. The model's configuration (sizes,
    position encoding, activation, the input statistics the publisher
    trained with) is read from the checkpoint, so the result takes this
    library's [0, 1] videos and gives the publisher's features.

    Args:
        path: the checkpoint file (or folder, or loaded state dict; see
            each converter).
        source: one of `CONVERTERS`: `"vjepa"` (the official V-JEPA
            `.pth.tar`), `"vjepa2"` (the official `.pt`),
            `"vjepa2_transformers"` (a `transformers` state dict or model
            folder), `"videomae"` (the original `.pth`),
            `"videomae_transformers"`, `"4ds"` (the released `.npz`).
        preset_dir: optional; where to write the result as a keras-hub
            preset directory (`VideoViTBackbone.from_preset(preset_dir)`
            loads it).
        **kwargs: the converter's arguments (`component`, `num_heads`) and
            backbone overrides (`num_frames`, `image_size`).

    Returns:
        The converted model (a `VideoViTBackbone` for encoders).

    Example:
    ```python
    backbone = keras_layerlock.converters.convert_checkpoint(
        "vitl.pt", source="vjepa2", preset_dir="presets/vjepa2_vit_l")
    features = backbone(videos)   # videos in [0, 1]
    ```
    """
    if source not in CONVERTERS:
        raise ValueError(f"Unknown checkpoint source {source!r}; known: {sorted(CONVERTERS)}.")
    model = CONVERTERS[source][0](path, **kwargs)
    if preset_dir is not None:
        model.save_to_preset(preset_dir)
    return model
