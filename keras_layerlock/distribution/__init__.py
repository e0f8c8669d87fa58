"""Scaling out on `keras.distribution`: layout maps for the library's models."""

from keras_layerlock.distribution.layout_maps import pretraining_layout_map
from keras_layerlock.distribution.layout_maps import video_vit_layout_map
from keras_layerlock.distribution.processes import process_shard
