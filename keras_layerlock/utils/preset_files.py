"""Preset directories: checked before loading, written atomically.

keras-hub's loader reports a damaged local preset with errors that name
the wrong file (a missing `model.weights.h5` reads "`model.weights.json`
doesn't exist") or no file at all (a bare `JSONDecodeError`), and loads a
task without its `task.weights.h5` silently, keeping random heads. Its
saver writes into the directory in place, so a save that dies half-way
(a full disk) leaves a preset that no longer loads. These helpers put a
check in front of the loader and a temporary directory behind the saver.
"""

import json
import os
import shutil
import tempfile

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
TASK_CONFIG_FILE = "task.json"
WEIGHTS_FILE = "model.weights.h5"
SHARDED_WEIGHTS_INDEX = "model.weights.json"
TASK_WEIGHTS_FILE = "task.weights.h5"

_PARTIAL_DIRECTORIES = set()


def check_preset_directory(preset, load_weights=True, load_task_weights=False):
    """Raises a clear error for a local preset directory that cannot load.

    Does nothing for anything that is not a local directory (names, handles).

    Args:
        preset: the `from_preset` argument.
        load_weights: bool. Whether the backbone's weights will be loaded.
        load_task_weights: bool. Whether a task's own weights will be
            loaded too (`task.weights.h5`, when the preset has a task).

    Example:
    ```python
    check_preset_directory("./my_preset")  # passes, or says what is wrong
    ```
    """
    if not isinstance(preset, (str, os.PathLike)) or not os.path.isdir(preset):
        return
    preset = os.fspath(preset)
    for name in (CONFIG_FILE, METADATA_FILE, TASK_CONFIG_FILE):
        path = os.path.join(preset, name)
        if not os.path.isfile(path):
            continue
        try:
            with open(path) as f:
                json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(
                f"The preset file {path} is not valid JSON ({error}). The preset directory "
                "is damaged: write it again with `save_to_preset`."
            ) from error
    if not os.path.isfile(os.path.join(preset, CONFIG_FILE)):
        raise FileNotFoundError(
            f"{preset!r} is not a preset directory: it has no {CONFIG_FILE} (found "
            f"{sorted(os.listdir(preset))}). Pass a directory written by `save_to_preset`."
        )
    has_weights = any(os.path.isfile(os.path.join(preset, name))
                      for name in (WEIGHTS_FILE, SHARDED_WEIGHTS_INDEX))
    if load_weights and not has_weights:
        raise FileNotFoundError(
            f"The preset directory {preset!r} has no {WEIGHTS_FILE} (the backbone's "
            f"weights; found {sorted(os.listdir(preset))}). Copy the complete preset, or pass "
            "`load_weights=False` to build its architecture with random weights."
        )
    has_task = os.path.isfile(os.path.join(preset, TASK_CONFIG_FILE))
    if load_weights and load_task_weights and has_task and not os.path.isfile(
        os.path.join(preset, TASK_WEIGHTS_FILE)
    ):
        raise FileNotFoundError(
            f"The preset directory {preset!r} holds a task ({TASK_CONFIG_FILE}) but not its "
            f"weights ({TASK_WEIGHTS_FILE}), so its heads would load with random weights. "
            "Copy the complete preset, or pass `load_weights=False`."
        )


def save_preset_atomically(preset_dir, write):
    """Runs `write(directory)` on a temporary directory, then moves it to
    `preset_dir`, replacing what was there only once the write succeeded.

    A write that fails (an exception, a full disk) leaves an existing
    `preset_dir` untouched and no temporary directory behind. Locations
    that are not local paths (`gs://...`) are written in place.

    Args:
        preset_dir: str. The preset directory to write.
        write: callable taking the directory to write into.
    """
    target = os.path.abspath(os.fspath(preset_dir))
    if "://" in os.fspath(preset_dir) or target in _PARTIAL_DIRECTORIES:
        # A remote location, or a save nested in one already under way (a
        # task's saver writes its backbone into the task's directory).
        write(preset_dir)
        return
    if os.path.exists(target) and not os.path.isdir(target):
        raise ValueError(f"Cannot save a preset to {preset_dir!r}: it is a file, not a directory.")
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    partial = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", suffix=".partial", dir=parent)
    _PARTIAL_DIRECTORIES.add(partial)
    try:
        write(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        _PARTIAL_DIRECTORIES.discard(partial)
    if not os.path.exists(target):
        os.replace(partial, target)
        return
    previous = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", suffix=".previous", dir=parent)
    os.rmdir(previous)
    os.replace(target, previous)
    os.replace(partial, target)
    shutil.rmtree(previous, ignore_errors=True)
