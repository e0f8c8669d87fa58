"""Losses and the targets they compare against, one module each."""

from keras_layerlock.losses.feature_prediction import feature_prediction_loss
from keras_layerlock.losses.info_nce import info_nce_loss
from keras_layerlock.losses.masked_depth_abs_rel import MaskedDepthAbsRel
from keras_layerlock.losses.masked_depth_l2 import MaskedDepthL2
from keras_layerlock.losses.masked_depth_l2 import depth_prior
from keras_layerlock.losses.masked_depth_l2 import depth_valid
from keras_layerlock.losses.masked_reconstruction import masked_reconstruction_loss
from keras_layerlock.losses.negative_cosine import negative_cosine_loss
from keras_layerlock.losses.pixel_targets import pixel_targets
from keras_layerlock.losses.variance_covariance import variance_covariance_loss
from keras_layerlock.losses.vicreg import vicreg_loss
