"""Evaluation on frozen features: readouts, probes, k-NN, metrics."""

from keras_layerlock.evaluation.feature_extraction import extract_features
from keras_layerlock.evaluation.knn_classifier import knn_accuracy
from keras_layerlock.evaluation.knn_classifier import knn_predict
from keras_layerlock.evaluation.alignment_uniformity import alignment
from keras_layerlock.evaluation.alignment_uniformity import uniformity
from keras_layerlock.evaluation.linear_probe import linear_probe
from keras_layerlock.evaluation.readout_sweep import SWEEP_DEPTH_FRACTIONS
from keras_layerlock.evaluation.readout_sweep import SWEEP_LEARNING_RATES
from keras_layerlock.evaluation.readout_sweep import compute_depth_features
from keras_layerlock.evaluation.readout_sweep import depth_fraction_to_layer
from keras_layerlock.evaluation.readout_sweep import readout_sweep
from keras_layerlock.evaluation.readout_sweep import train_readout
