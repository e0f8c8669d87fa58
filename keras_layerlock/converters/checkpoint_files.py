"""Reading publishers' checkpoint files into flat dicts of NumPy arrays."""

import json
import os
from collections.abc import Mapping

import numpy as np


def read_checkpoint(source):
    """The contents of a checkpoint as a nested dict of NumPy arrays.

    Args:
        source: a path (`.pt`, `.pth`, `.pth.tar`, `.bin`: PyTorch pickles,
            read with `weights_only=True`; `.safetensors`; `.npz`), a
            directory holding one `model.safetensors` or
            `pytorch_model.bin` (a Hugging Face model folder), or an
            in-memory mapping (a `state_dict()`).

    Returns:
        dict: values are NumPy arrays or nested dicts; anything else a
        PyTorch checkpoint holds (epoch counters, optimizer state) is kept
        as it is.

    Example:
    ```python
    checkpoint = read_checkpoint("vitl.pt")
    sorted(checkpoint)            # ['encoder', 'epoch', 'predictor', ...]
    ```
    """
    if isinstance(source, Mapping):
        return _to_numpy(source)
    path = os.fspath(source)
    if os.path.isdir(path):
        for name in ("model.safetensors", "pytorch_model.bin"):
            if os.path.exists(os.path.join(path, name)):
                return read_checkpoint(os.path.join(path, name))
        raise FileNotFoundError(
            f"{path} is a directory without model.safetensors or pytorch_model.bin; pass the "
            "checkpoint file itself."
        )
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such checkpoint file: {path}.")
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    if path.endswith(".safetensors"):
        from safetensors.numpy import load_file

        return load_file(path)
    if path.endswith((".pt", ".pth", ".tar", ".bin", ".ckpt")):
        import torch

        try:
            contents = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for a damaged file
            raise ValueError(f"{path} could not be read as a PyTorch checkpoint: {error}") from error
        return _to_numpy(contents)
    raise ValueError(
        f"Unknown checkpoint format: {path}. Expected .pt, .pth, .pth.tar, .bin, .ckpt "
        "(PyTorch), .safetensors or .npz."
    )


def _to_numpy(value):
    if isinstance(value, Mapping):
        return {str(key): _to_numpy(item) for key, item in value.items()}
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        return value.numpy()
    return value


def strip_prefix(state, prefixes):
    """`state` with the first of `prefixes` that every key carries removed
    (DistributedDataParallel's `module.`, V-JEPA's `module.backbone.`)."""
    for prefix in prefixes:
        if state and all(key.startswith(prefix) for key in state):
            return {key[len(prefix):]: value for key, value in state.items()}
    return dict(state)


def encoder_part(state, prefix, other_parts):
    """The keys of `state` with `prefix` removed where they carry it,
    leaving out those that begin with one of `other_parts` (a model's
    known non-encoder parts: predictor, decoder, classification head);
    anything else stays, to be named as unexpected."""
    encoder = {}
    for key, value in state.items():
        bare = key[len(prefix):] if prefix and key.startswith(prefix) else key
        if not bare.startswith(other_parts):
            encoder[bare] = value
    return encoder


def transformers_config(source):
    """The `config.json` beside a Hugging Face checkpoint (a model folder
    or a weights file in one), or `{}` when there is none."""
    if isinstance(source, (str, os.PathLike)):
        folder = source if os.path.isdir(source) else os.path.dirname(os.fspath(source))
        path = os.path.join(folder, "config.json")
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
    return {}
