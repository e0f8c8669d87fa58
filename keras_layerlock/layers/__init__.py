from keras_layerlock.layers.learned_position_embedding_3d import (
    LearnedPositionEmbedding3D,
)
from keras_layerlock.layers.rotary_embedding_3d import RotaryEmbedding3D
from keras_layerlock.layers.sincos_position_embedding_3d import (
    SinCosPositionEmbedding3D,
)
from keras_layerlock.layers.transformer_block import TransformerBlock
from keras_layerlock.layers.tubelet_embedding import TubeletEmbedding
from keras_layerlock.layers.token_masking import TokenMasking
from keras_layerlock.layers.masked_token_predictor import MaskedTokenPredictor
from keras_layerlock.layers.multiblock_masking import MULTIBLOCK_PRESETS
from keras_layerlock.layers.multiblock_masking import MultiblockMasking
from keras_layerlock.layers.seeded_layer import SeededLayer
