"""Data: the built-in procedural 4D video suite and real video pipelines."""

from keras_layerlock.data.array_clip_dataset import ArrayClipDataset
from keras_layerlock.data.procedural.load_procedural_task import load_procedural_task
from keras_layerlock.data.procedural.procedural_video_suite import DEPTH_VALID_RANGE
from keras_layerlock.data.procedural.procedural_video_suite import ProceduralVideoSuite
from keras_layerlock.data.procedural.procedural_video_suite import default_cache_dir
from keras_layerlock.data.procedural.procedural_video_suite import depth_validity_mask
from keras_layerlock.data.procedural.scene import APPEARANCE_CLASSES
from keras_layerlock.data.procedural.scene import MOTION_CLASSES
