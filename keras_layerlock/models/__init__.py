from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone
from keras_layerlock.models.video_vit.video_vit_parameter_count import (
    video_vit_parameter_count,
)
from keras_layerlock.models.layerlock.layerlock_mae import LayerLockMAE
from keras_layerlock.models.layerlock.layerlock_model import LayerLockModel
from keras_layerlock.models.vjepa.vjepa import VJEPA
