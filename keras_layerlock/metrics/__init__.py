from keras_layerlock.metrics.abs_rel import AbsRel
from keras_layerlock.metrics.feature_collapse import feature_collapse_statistics
from keras_layerlock.metrics.last_value import LastValue
# A callback, kept importable from its former home.
from keras_layerlock.callbacks.collapse_monitor import CollapseMonitor
