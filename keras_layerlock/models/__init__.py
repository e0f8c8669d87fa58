from keras_layerlock.models.mae.layerlock_mae import LayerLockMAE
from keras_layerlock.models.pretraining.ema_teacher import EMATeacher
from keras_layerlock.models.pretraining.pretraining_model import LayerLockModel
from keras_layerlock.models.pretraining.pretraining_model import PretrainingModel
from keras_layerlock.models.readout.readout_classifier import ReadoutClassifier
from keras_layerlock.models.readout.readout_depth_estimator import ReadoutDepthEstimator
from keras_layerlock.models.video_vit.video_vit_backbone import VideoViTBackbone
from keras_layerlock.models.video_vit.video_vit_parameter_count import (
    video_vit_parameter_count,
)
from keras_layerlock.models.vjepa.vjepa import VJEPA
