from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone
from keras_layerlock.models.video_vit.video_vit_parameter_count import (
    video_vit_parameter_count,
)
from keras_layerlock.models.layerlock.layerlock_mae import LayerLockMAE
from keras_layerlock.models.layerlock.layerlock_model import LayerLockModel
from keras_layerlock.models.vjepa.vjepa import VJEPA
from keras_layerlock.models.readout.depth_losses import AbsRel
from keras_layerlock.models.readout.depth_losses import MaskedDepthL2
from keras_layerlock.models.readout.readout_classifier import ReadoutClassifier
from keras_layerlock.models.readout.readout_depth_estimator import ReadoutDepthEstimator
