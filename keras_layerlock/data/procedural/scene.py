"""Random scenes for the procedural 4D video suite.

A scene is one "actor" object that carries the motion label, a back wall
and a floor whose pattern carries the appearance label, optional static
distractor objects, and a camera that drifts and pans slowly. Everything is
drawn from a `numpy.random.Generator`, so a scene is a pure function of its
seed.

Motion classes (the SSv2-like task) describe what the actor does over the
clip. Trajectories are symmetric around the middle of the clip and every
class draws its middle state from the same distribution, so a frame picked
at random says (almost) nothing about the class: approaching and receding
give exactly the same distribution of depths over the frames of a clip,
moving left and right the same distribution of positions, and spinning
clockwise or counter-clockwise the same distribution of orientations.

Appearance classes (the Kinetics-like task) are the look of the scene, as
in Kinetics where the setting (a pool, a field, a kitchen) gives most of
the class away: the environment's pattern family (`SCENE_TEXTURES`), with
random colours, scale, phase and (for the isotropic patterns) orientation.

Depth (the ScanNet-like task) has structure beyond a layout prior: the
back wall's distance varies from clip to clip (its line with the floor
and the image-space period of its pattern, fixed in metres, give it away),
and the actor has a fixed physical size, so its image size gives its
distance.

Difficulty levels:

- `"standard"` (default): no distractors, a large actor, a gentle camera.
- `"cluttered"`: one or two static textured distractors, a smaller actor
  whose size in the image does not depend on its distance, and a livelier
  camera.
"""

import numpy as np

from keras_layerlock.data.procedural.textures import SCENE_TEXTURES
from keras_layerlock.data.procedural.textures import TEXTURES
from keras_layerlock.data.procedural.textures import sample_scene_pattern

MOTION_CLASSES = (
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "approach",
    "recede",
    "rotate_clockwise",
    "rotate_counterclockwise",
)
SHAPES = ("sphere", "box")
APPEARANCE_CLASSES = SCENE_TEXTURES
DIFFICULTIES = ("standard", "cluttered")

# Depths (metres) of the back wall. Part of the range lies beyond the 10 m
# depth-validity limit of the 4DS ScanNet protocol, so some clips have
# invalid depth pixels to mask.
WALL_DEPTH_RANGE = (8.0, 13.0)
FLOOR_HEIGHT_RANGE = (-2.6, -2.4)
# Period of the environment pattern in metres. Fixed in the world, so its
# period in the image shrinks with distance: a local (texture-gradient) cue
# to the wall's depth, besides the wall-floor line.
_PATTERN_PERIOD_RANGE = (1.6, 2.0)


def _rotation_z(angles):
    c, s = np.cos(angles), np.sin(angles)
    zero, one = np.zeros_like(angles), np.ones_like(angles)
    return np.stack(
        [
            np.stack([c, -s, zero], -1),
            np.stack([s, c, zero], -1),
            np.stack([zero, zero, one], -1),
        ],
        -2,
    )


def _random_rotation(rng):
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _colour_pair(rng):
    first = rng.uniform(0.1, 1.0, 3)
    second = np.clip(1.0 - first + rng.uniform(-0.2, 0.2, 3), 0.0, 1.0)
    return np.stack([first, second]).astype("float32")


def _object(rng, shape, texture, size, centres, spins):
    tilt = _random_rotation(rng) if shape == "box" else np.eye(3)
    obj = {
        "shape": shape,
        "texture": texture,
        "frequency": float(rng.uniform(2.5, 4.0)),
        "colours": _colour_pair(rng),
        "centres": centres.astype("float64"),
        # Spin about the viewing axis, applied after a fixed random tilt.
        "rotations": _rotation_z(spins) @ tilt,
    }
    if shape == "sphere":
        obj["radius"] = float(size)
    else:
        obj["half_extents"] = (size * rng.uniform(0.7, 1.0, 3)).astype("float64")
    return obj


def sample_scene(rng, num_frames, difficulty="standard"):
    """Draws one scene.

    Args:
        rng: `numpy.random.Generator`.
        num_frames: int.
        difficulty: `"standard"` or `"cluttered"`.

    Returns:
        dict with `camera_positions (T, 3)`, `camera_yaws (T,)`, `objects`
        (actor first), `background`, `light`, and the labels `motion`,
        `appearance`, and the actor's `shape` and `texture` (ints).
    """
    if difficulty not in DIFFICULTIES:
        raise ValueError(
            f"Unknown difficulty {difficulty!r}. Expected one of {DIFFICULTIES}."
        )
    cluttered = difficulty == "cluttered"
    # tau runs from -0.5 to 0.5 over the clip: trajectories are symmetric.
    tau = np.linspace(-0.5, 0.5, num_frames) if num_frames > 1 else np.zeros(1)
    motion = int(rng.integers(len(MOTION_CLASSES)))
    appearance = int(rng.integers(len(APPEARANCE_CLASSES)))
    shape = int(rng.integers(len(SHAPES)))
    texture = int(rng.integers(len(TEXTURES)))

    wall_depth = float(rng.uniform(*WALL_DEPTH_RANGE))
    depth = rng.uniform(4.0, 6.5) if cluttered else rng.uniform(3.0, 5.0)
    image_xy = rng.uniform(-0.22, 0.22, 2) if cluttered else rng.uniform(-0.15, 0.15, 2)
    offset = np.zeros((num_frames, 3))
    depths = np.full(num_frames, depth)
    name = MOTION_CLASSES[motion]
    sweep = rng.uniform(0.28, 0.4)  # image-plane displacement over the clip
    if name in ("move_left", "move_right"):
        offset[:, 0] = (1 if name == "move_right" else -1) * sweep * tau
    elif name in ("move_up", "move_down"):
        offset[:, 1] = (1 if name == "move_up" else -1) * sweep * tau
    elif name in ("approach", "recede"):
        amplitude = rng.uniform(2.0, 3.0) if cluttered else rng.uniform(1.6, 2.4)
        depths = depth + (1 if name == "recede" else -1) * amplitude * tau
    spin0 = rng.uniform(0, 2 * np.pi)
    spins = np.full(num_frames, spin0)
    if name.startswith("rotate"):
        turn = rng.uniform(0.6, 1.0) * np.pi
        # The camera frame is x right, y up, z forward, so a positive turn
        # about z takes right to up: counter-clockwise in the image.
        spins = spin0 + (-1 if name == "rotate_clockwise" else 1) * turn * tau
    # World x/y of the actor; lateral position scales with depth so that the
    # image-plane position is what was drawn.
    xy = (image_xy[None] + offset[:, :2]) * depth
    centres = np.concatenate([xy, depths[:, None]], -1)
    # Cluttered: image size independent of distance (no size cue to depth);
    # standard: a fixed physical size range, so image size tells distance.
    size = rng.uniform(0.55, 0.8) * depth / 5.0 if cluttered else rng.uniform(0.7, 0.85)
    objects = [
        _object(rng, SHAPES[shape], TEXTURES[texture], size, centres, spins)
    ]
    for _ in range(int(rng.integers(1, 3)) if cluttered else 0):
        d = rng.uniform(3.0, 7.5)
        pos = np.array([rng.uniform(-0.45, 0.45) * d, rng.uniform(-0.4, 0.2) * d, d])
        objects.append(
            _object(
                rng,
                SHAPES[int(rng.integers(len(SHAPES)))],
                TEXTURES[int(rng.integers(len(TEXTURES)))],
                rng.uniform(0.25, 0.45) * d / 5.0,
                np.repeat(pos[None], num_frames, 0),
                np.full(num_frames, rng.uniform(0, 2 * np.pi)),
            )
        )

    camera_scale = 1.0 if cluttered else 0.4
    drift = rng.uniform(-0.3, 0.3, 3) * np.array([1.0, 0.5, 1.0]) * camera_scale
    camera_positions = rng.uniform(-0.1, 0.1, 3)[None] + drift[None] * tau[:, None]
    camera_yaws = (rng.uniform(-0.05, 0.05) + rng.uniform(-0.08, 0.08) * tau) * camera_scale
    light = np.array([rng.uniform(-0.6, 0.6), rng.uniform(0.5, 1.0), -1.0])
    period = rng.uniform(*_PATTERN_PERIOD_RANGE)
    pattern = sample_scene_pattern(rng, APPEARANCE_CLASSES[appearance], period)
    background = {
        "wall_depth": wall_depth,
        "floor_height": float(rng.uniform(*FLOOR_HEIGHT_RANGE)),
        "wall_colours": _colour_pair(rng) * 0.85,
        "floor_colours": _colour_pair(rng) * 0.75,
        "pattern": pattern,
    }
    return {
        "camera_positions": camera_positions,
        "camera_yaws": camera_yaws,
        "objects": objects,
        "background": background,
        "light": light / np.linalg.norm(light),
        "motion": motion,
        "appearance": appearance,
        "shape": shape,
        "texture": texture,
    }
