"""Converters: publishers' checkpoints into this library's models, strictly.

`convert_checkpoint(path, source=...)` is the one entry point; a missing,
unexpected or mis-shaped key is a `CheckpointMismatchError` naming it, and
nothing loads partially. `tools/convert_checkpoint.py` is its command line.
"""

from keras_layerlock.converters.checkpoint_files import read_checkpoint
from keras_layerlock.converters.convert_checkpoint import CONVERTERS
from keras_layerlock.converters.convert_checkpoint import convert_checkpoint
from keras_layerlock.converters.strict_assignment import CheckpointMismatchError
