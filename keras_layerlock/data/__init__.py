"""Data: the built-in procedural 4D video suite, real video pipelines and TFDS images."""

from keras_layerlock.data.array_clip_dataset import ArrayClipDataset
from keras_layerlock.data.procedural.load_procedural_task import load_procedural_task
from keras_layerlock.data.procedural.procedural_video_suite import DEPTH_VALID_RANGE
from keras_layerlock.data.procedural.procedural_video_suite import ProceduralVideoSuite
from keras_layerlock.data.procedural.procedural_video_suite import default_cache_dir
from keras_layerlock.data.procedural.procedural_video_suite import depth_validity_mask
from keras_layerlock.data.procedural.scene import APPEARANCE_CLASSES
from keras_layerlock.data.procedural.scene import DIFFICULTIES
from keras_layerlock.data.procedural.scene import MOTION_CLASSES
from keras_layerlock.data.tfds_images import TFDS_IMAGE_DATASETS
from keras_layerlock.data.tfds_images import load_tfds_images
from keras_layerlock.data.tfds_video import TFDS_VIDEO_DATASETS
from keras_layerlock.data.tfds_video import load_tfds_video
from keras_layerlock.data.video_augmentation import VideoClipSampler
from keras_layerlock.data.video_augmentation import colour_augment
from keras_layerlock.data.video_augmentation import greyscale
from keras_layerlock.data.video_decoding import VideoDecodeError
from keras_layerlock.data.video_decoding import decode_video
from keras_layerlock.data.video_folder_dataset import DecodeStatistics
from keras_layerlock.data.video_folder_dataset import VideoFolderDataset
