"""Loading a state dict into Keras variables: every key or none."""

import numpy as np


class CheckpointMismatchError(ValueError):
    """A checkpoint's keys or shapes do not match the model built for it.
    Nothing was loaded."""


def assign_strictly(state, mapping, source_name):
    """Assigns `state[key]` (transformed) to each variable, after checking
    that the keys and shapes match exactly.

    Args:
        state: dict `{key: array}`, the checkpoint's weights for the part
            being converted.
        mapping: list of `(keys, variable, transform)`: `keys` a tuple of
            checkpoint keys, `transform(*arrays)` the array for `variable`
            (e.g. a transposed kernel, or query, key and value
            concatenated).
        source_name: what the state is, for messages (`"V-JEPA 2
            target_encoder"`).

    Raises:
        CheckpointMismatchError: naming every missing key (the model needs
            it, the checkpoint lacks it), every unexpected key (the
            checkpoint has it, nothing reads it) and every key whose shape
            does not give the variable's shape. No variable changes unless
            all of them can.
    """
    expected = [key for keys, _, _ in mapping for key in keys]
    missing = [key for key in expected if key not in state]
    unexpected = sorted(set(state) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    values = []
    if not problems:
        for keys, variable, transform in mapping:
            arrays = [np.asarray(state[key]) for key in keys]
            try:
                value = np.asarray(transform(*arrays), dtype="float32")
            except ValueError as error:
                value, reason = None, str(error)
            else:
                reason = None
            if value is None or tuple(value.shape) != tuple(variable.shape):
                shapes = ", ".join(f"{key} {tuple(a.shape)}" for key, a in zip(keys, arrays))
                problems.append(
                    f"mis-shaped key{'s' if len(keys) > 1 else ''} {shapes}: "
                    f"{variable.path} needs {tuple(variable.shape)}"
                    + (f" ({reason})" if reason else "")
                )
            values.append(value)
    if problems:
        raise CheckpointMismatchError(
            f"The {source_name} checkpoint does not match the model built for it; nothing was "
            "loaded. " + "; ".join(problems) + "."
        )
    for (_, variable, _), value in zip(mapping, values):
        if not np.all(np.isfinite(value)):
            raise CheckpointMismatchError(
                f"{variable.path} would receive NaN or Inf from the {source_name} checkpoint; "
                "nothing was loaded."
            )
    for (_, variable, _), value in zip(mapping, values):
        variable.assign(value.astype(variable.dtype))


def _listing(keys, limit=12):
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")
