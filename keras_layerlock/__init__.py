"""keras_layerlock: self-supervised video representation learning in Keras 3.

Public API. Everything a user needs is importable from here; submodules are
implementation detail.
"""

# ruff: noqa: E402 (XLA's flags are set before anything else is imported)
# First: XLA reads its flags when JAX starts its CPU client.
from keras_layerlock.utils.keras_internals import configure_xla_cpu

configure_xla_cpu()

from keras_layerlock import callbacks
from keras_layerlock import converters
from keras_layerlock import data
from keras_layerlock import distribution
from keras_layerlock import evaluation
from keras_layerlock import layerlock
from keras_layerlock import layers
from keras_layerlock import losses
from keras_layerlock import metrics
from keras_layerlock import models
from keras_layerlock import optimizers

# Last: the recipes build models from the names above.
from keras_layerlock import recipes
from keras_layerlock import utils
from keras_layerlock.callbacks import CollapseMonitor
from keras_layerlock.callbacks import DatasetEpochSync
from keras_layerlock.callbacks import NonFiniteGuard
from keras_layerlock.callbacks import NonFiniteTrainingError
from keras_layerlock.callbacks import StepLossHistory
from keras_layerlock.callbacks import WeightDecayScheduler
from keras_layerlock.layerlock import LayerLockCallback
from keras_layerlock.layerlock import LayerLockLearningRate
from keras_layerlock.layerlock import LayerLockSchedule
from keras_layerlock.layerlock import restrict_optimizer
from keras_layerlock.layers import CrossAttentionReadout
from keras_layerlock.layers import FeatureStandardization
from keras_layerlock.layers import LearnedPositionEmbedding3D
from keras_layerlock.layers import LinearReadout
from keras_layerlock.layers import MaskedTokenPredictor
from keras_layerlock.layers import MLPHead
from keras_layerlock.layers import MultiblockMasking
from keras_layerlock.layers import RotaryEmbedding3D
from keras_layerlock.layers import SimCLRAugmentation
from keras_layerlock.layers import SinCosPositionEmbedding3D
from keras_layerlock.layers import TokenGridPooling
from keras_layerlock.layers import TokenMasking
from keras_layerlock.layers import TransformerBlock
from keras_layerlock.layers import TubeletEmbedding
from keras_layerlock.layers import ViewPairSampling
from keras_layerlock.losses import MaskedDepthL2
from keras_layerlock.metrics import AbsRel
from keras_layerlock.metrics import LastValue
from keras_layerlock.metrics import feature_collapse_statistics
from keras_layerlock.models import BYOL
from keras_layerlock.models import VJEPA
from keras_layerlock.models import EMATeacher
from keras_layerlock.models import LayerLockMAE
from keras_layerlock.models import LayerLockModel
from keras_layerlock.models import MAESimSiam
from keras_layerlock.models import MAEVICReg
from keras_layerlock.models import MSBReg
from keras_layerlock.models import PretrainingModel
from keras_layerlock.models import ReadoutClassifier
from keras_layerlock.models import ReadoutDepthEstimator
from keras_layerlock.models import TwoViewMAE
from keras_layerlock.models import ViCMAE
from keras_layerlock.models import VideoClassifier
from keras_layerlock.models import VideoViTBackbone
from keras_layerlock.models import video_vit_parameter_count
from keras_layerlock.optimizers import LARS
from keras_layerlock.optimizers import LayerwiseDecayAdamW
from keras_layerlock.optimizers import layerwise_learning_rate_multipliers
from keras_layerlock.utils import load_model
from keras_layerlock.version import __version__
