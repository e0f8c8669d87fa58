"""Training callbacks (LayerLock's own lives in `keras_layerlock.layerlock`
and is re-exported here)."""

from keras_layerlock.callbacks.collapse_monitor import CollapseMonitor
from keras_layerlock.callbacks.dataset_epoch_sync import DatasetEpochSync
from keras_layerlock.callbacks.integer_logs_progbar_logger import IntegerLogsProgbarLogger
from keras_layerlock.callbacks.non_finite_guard import NonFiniteGuard
from keras_layerlock.callbacks.non_finite_guard import NonFiniteTrainingError
from keras_layerlock.callbacks.step_loss_history import StepLossHistory
from keras_layerlock.callbacks.weight_decay_scheduler import WeightDecayScheduler
from keras_layerlock.layerlock.layerlock_callback import LayerLockCallback
