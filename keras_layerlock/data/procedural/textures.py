"""Procedural textures: two-colour patterns over 2-D surface coordinates.

Two families:

- `TEXTURES`, the patterns of objects (the actor and the distractors),
  in object-surface coordinates.
- `SCENE_TEXTURES`, the patterns of the environment (back wall and floor)
  that define the appearance classes, in world coordinates. They differ in
  their local structure (orientation, spots, rings, lines, smooth waves)
  while their colours, scale and phase are drawn at random, so that the
  class cannot be read from colour or mean brightness but is obvious to an
  eye, and to any model with local pattern detectors.

Each function maps coordinates (arrays of any shape) to a blend weight in
[0, 1] between two colours. They are vectorised NumPy, so rendering stays
far faster than training.
"""

import numpy as np

TEXTURES = ("checker", "stripes", "dots", "rings")
SCENE_TEXTURES = (
    "horizontal_stripes",
    "vertical_stripes",
    "diagonal_stripes",
    "checker",
    "dots",
    "rings",
    "grid",
    "waves",
)
# Orientation of the pattern on the wall, in radians, per scene texture:
# (centre, jitter). Stripes keep their class orientation up to the jitter;
# the other patterns take any orientation.
_SCENE_ORIENTATIONS = {
    "horizontal_stripes": (0.0, 0.17),
    "vertical_stripes": (np.pi / 2, 0.17),
    "diagonal_stripes": (np.pi / 4, 0.17),
}


def texture_weight(name, u, v, frequency):
    """Blend weight of object texture `name` at surface coordinates `(u, v)`."""
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


def sample_scene_pattern(rng, name, period):
    """Random parameters of one environment pattern of class `name`.

    Args:
        rng: `numpy.random.Generator`.
        name: one of `SCENE_TEXTURES`.
        period: float. Pattern period in world units.

    Returns:
        dict for `scene_texture_weight`.
    """
    if name not in SCENE_TEXTURES:
        raise ValueError(f"Unknown scene texture {name!r}; expected one of {SCENE_TEXTURES}.")
    centre, jitter = _SCENE_ORIENTATIONS.get(name, (0.0, np.pi))
    angle = centre + rng.uniform(-jitter, jitter)
    if name == "diagonal_stripes" and rng.random() < 0.5:
        angle = -angle  # both diagonals
    return {
        "name": name,
        "period": float(period),
        "angle": float(angle),
        "phase": rng.uniform(0.0, 1.0, 2),
    }


def scene_texture_weight(pattern, x, y):
    """Blend weight of an environment pattern at world coordinates `(x, y)`."""
    c, s = np.cos(pattern["angle"]), np.sin(pattern["angle"])
    # (u, v) in periods; u runs across stripes of the "horizontal" class,
    # which vary with height.
    u = (-s * x + c * y) / pattern["period"] + pattern["phase"][0]
    v = (c * x + s * y) / pattern["period"] + pattern["phase"][1]
    name = pattern["name"]
    if name.endswith("_stripes"):
        weight = np.floor(2.0 * u) % 2
    elif name == "checker":
        weight = (np.floor(u) + np.floor(v)) % 2
    elif name == "dots":
        du, dv = u - np.round(u), v - np.round(v)
        weight = du * du + dv * dv < 0.08
    elif name == "rings":
        weight = np.floor(1.5 * np.sqrt((u - pattern["phase"][0]) ** 2 + v * v)) % 2
    elif name == "grid":
        du, dv = np.abs(u - np.round(u)), np.abs(v - np.round(v))
        weight = np.minimum(du, dv) < 0.12
    else:  # waves: smooth, no edges at all
        weight = 0.5 + 0.5 * np.sin(2 * np.pi * u) * np.sin(2 * np.pi * v)
    return np.asarray(weight, "float32")
