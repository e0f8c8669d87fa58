"""The LayerLock algorithm: schedule, callback, re-warm-up, optimizer
narrowing and the FLOP model of a frozen prefix."""

from keras_layerlock.layerlock.flops import step_flops
from keras_layerlock.layerlock.layerlock_callback import LayerLockCallback
from keras_layerlock.layerlock.layerlock_learning_rate import LayerLockLearningRate
from keras_layerlock.layerlock.layerlock_schedule import LayerLockSchedule
from keras_layerlock.layerlock.optimizer_restriction import restrict_optimizer
