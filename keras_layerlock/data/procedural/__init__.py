"""The built-in procedural 4D video suite."""

from keras_layerlock.data.procedural.suite_calibration import suite_calibration
