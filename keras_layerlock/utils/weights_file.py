"""What a Keras `.weights.h5` file holds, for strict loading."""

import os
import tempfile

import h5py


def stored_weight_paths(filepath):
    """`{path: shape}` of every model array in a Keras `.weights.h5` file.

    The optimizer's state (saved with a compiled model) is left out: it
    belongs to training, not to the model.
    """
    paths = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and not name.startswith("optimizer/"):
            paths[name] = tuple(obj.shape)

    with h5py.File(filepath, "r") as f:
        f.visititems(visit)
    return paths


def expected_weight_paths(save):
    """`{path: shape}` that `save(filepath)` writes (into a temporary file)."""
    with tempfile.TemporaryDirectory() as folder:
        filepath = os.path.join(folder, "expected.weights.h5")
        save(filepath)
        return stored_weight_paths(filepath)


def check_weight_paths(stored, expected, source, fix):
    """Raises a ValueError naming what differs between two path maps."""
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    reshaped = sorted(p for p in set(stored) & set(expected) if stored[p] != expected[p])
    if not (missing or unexpected or reshaped):
        return

    def some(paths):
        return ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")

    problems = []
    if missing:
        problems.append(f"{len(missing)} weights of the model are not in it ({some(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} stored weights have no place in the model "
                        f"({some(unexpected)})")
    if reshaped:
        problems.append("shapes differ for " + some(
            [f"{p} (stored {stored[p]}, model {expected[p]})" for p in reshaped]))
    raise ValueError(f"{source} does not match the model built: " + "; ".join(problems)
                     + f". Nothing was loaded. {fix}")
