"""Procedural textures: two-colour patterns over 2-D surface coordinates.

Each texture maps surface coordinates `(u, v)` (arrays of any shape) to a
blend weight in [0, 1] between an object's two colours. They are cheap,
vectorised NumPy functions so that rendering stays far faster than training.
"""

import numpy as np

TEXTURES = ("checker", "stripes", "dots", "rings")


def texture_weight(name, u, v, frequency):
    """Blend weight of texture `name` at surface coordinates `(u, v)`."""
    u, v = u * frequency, v * frequency
    if name == "checker":
        return ((np.floor(u) + np.floor(v)) % 2).astype("float32")
    if name == "stripes":
        return (np.floor(u) % 2).astype("float32")
    if name == "dots":
        du, dv = u - np.round(u), v - np.round(v)
        return (du * du + dv * dv < 0.09).astype("float32")
    if name == "rings":
        return (np.floor(2.0 * np.sqrt(u * u + v * v)) % 2).astype("float32")
    raise ValueError(f"Unknown texture {name!r}; expected one of {TEXTURES}.")


def background_weight(u, v, phase):
    """Soft, low-contrast pattern for walls and floors (a wave grid)."""
    return (
        0.5
        + 0.25 * np.sin(1.7 * u + phase[0]) * np.sin(1.3 * v + phase[1])
        + 0.25 * np.sin(0.6 * u - 0.9 * v + phase[2])
    ).astype("float32")
