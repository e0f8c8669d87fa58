import os
import zipfile

import keras


def load_model(filepath, **kwargs):
    """`keras.saving.load_model` for a `.keras` file, with errors that say
    what is wrong with the file.

    Keras answers a `.keras` file that exists but is not a complete zip
    archive (cut short by a full disk or a killed save, or another format
    renamed) with "File not found". This checks the file first: a missing
    path, a directory, an empty file and a damaged archive each get their
    own message naming the file and its size; a sound file loads exactly as
    with `keras.saving.load_model` (every library class is registered).

    Args:
        filepath: path of a `.keras` file.
        **kwargs: `keras.saving.load_model` arguments (`custom_objects`,
            `compile`, `safe_mode`).

    Returns:
        The model.

    Example:
    ```python
    model.save("pretraining_model.keras")
    model = keras_layerlock.load_model("pretraining_model.keras")
    ```
    """
    path = os.fspath(filepath)
    if not path.endswith(".keras"):
        raise ValueError(f"`load_model` reads `.keras` files; received {path!r}. For a preset "
                         "directory use `PretrainingModel.from_preset` or "
                         "`VideoViTBackbone.from_preset`.")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not a `.keras` file.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such `.keras` file: {path}.")
    size = os.path.getsize(path)
    if size == 0:
        raise ValueError(f"{path} is empty (0 bytes): the save that wrote it did not finish. "
                         "Save the model again.")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} ({size:,} bytes) is not a complete `.keras` archive (a zip file): it was "
            "cut short (a full disk or a killed save) or is another format renamed. Save the "
            "model again, or load an earlier copy."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{path} ({size:,} bytes) is a damaged `.keras` archive: {error}. "
                         "Save the model again.") from error
    if damaged is not None:
        raise ValueError(f"{path} ({size:,} bytes) is a damaged `.keras` archive: its member "
                         f"{damaged!r} fails its checksum. Save the model again.")
    return keras.saving.load_model(path, **kwargs)
