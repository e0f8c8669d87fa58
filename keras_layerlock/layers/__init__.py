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
