"""A small vectorised ray caster for the procedural scenes.

Every pixel of every frame casts one ray from a pinhole camera; spheres and
(rotated) boxes are intersected analytically, the back wall and the floor
are planes, and the nearest hit wins, which gives correct occlusion and an
exact per-pixel depth. Shading is Lambertian with ambient light.

Depth is the camera-frame z coordinate of the visible surface (what RGB-D
sensors such as ScanNet's report), in metres.
"""

import numpy as np

from keras_layerlock.data.procedural.textures import scene_texture_weight
from keras_layerlock.data.procedural.textures import texture_weight

AMBIENT = 0.35


def _yaw_matrices(yaws):
    c, s = np.cos(yaws), np.sin(yaws)
    zero, one = np.zeros_like(yaws), np.ones_like(yaws)
    return np.stack(
        [
            np.stack([c, zero, s], -1),
            np.stack([zero, one, zero], -1),
            np.stack([-s, zero, c], -1),
        ],
        -2,
    )


def _sphere_hits(origin, directions, centre, radius):
    """Ray parameters of hits on one sphere; `origin (3,)`, rays `(..., 3)`."""
    oc = origin - centre
    a = (directions * directions).sum(-1)
    b = 2.0 * (directions @ oc)
    c = oc @ oc - radius * radius
    disc = b * b - 4 * a * c
    hit = disc > 0
    t = np.full(a.shape, np.inf)
    t[hit] = (-b[hit] - np.sqrt(disc[hit])) / (2 * a[hit])
    t[t <= 1e-3] = np.inf
    return t


def _box_hits(origin, directions, centre, rotation, half_extents):
    """Slab test against one rotated box (rays taken into the box frame)."""
    o = (origin - centre) @ rotation
    d = directions @ rotation
    d = np.where(np.abs(d) < 1e-12, 1e-12, d)
    t1 = (-half_extents - o) / d
    t2 = (half_extents - o) / d
    t_near = np.minimum(t1, t2).max(-1)
    t_far = np.maximum(t1, t2).min(-1)
    hit = (t_near <= t_far) & (t_near > 1e-3)
    return np.where(hit, t_near, np.inf)


def _screen_window(origin, rotation, centre, radius, focal, height, width):
    """Pixel rows/cols that can see a bounding sphere, or None."""
    x, y, z = (centre - origin) @ rotation  # camera frame
    if z <= radius:
        return (0, height, 0, width)  # too close to bound cheaply
    r = focal * radius / np.sqrt(z * z - radius * radius) + 2
    u, v = focal * x / z + width / 2, -focal * y / z + height / 2
    c0, c1 = int(max(0, np.floor(u - r))), int(min(width, np.ceil(u + r)))
    r0, r1 = int(max(0, np.floor(v - r))), int(min(height, np.ceil(v + r)))
    if c0 >= c1 or r0 >= r1:
        return None
    return (r0, r1, c0, c1)


def render_scene(scene, height, width, focal_length=1.0, return_layers=False):
    """Renders a scene from `sample_scene`.

    Args:
        scene: dict from `sample_scene`.
        height, width: ints, image size in pixels.
        focal_length: float, in units of the image width (1.0 gives a 53
            degree horizontal field of view).
        return_layers: bool. Also return every surface's own depth map
            (before occlusion), for tests and debugging.

    Returns:
        dict with `video (T, H, W, 3) float32` in [0, 1], `depth (T, H, W)
        float32` metres, `instances (T, H, W) int32` (0 wall, 1 floor,
        `k + 2` object `k`, the actor being object 0), and with
        `return_layers` also `layers (S, T, H, W)` per-surface depths.
    """
    origins_t = np.asarray(scene["camera_positions"], "float64")
    f = focal_length * width
    jj, ii = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    # Camera-frame directions with z = 1, so the ray parameter of a hit is
    # its camera-frame depth.
    d_cam = np.stack(
        [(jj - width / 2) / f, -(ii - height / 2) / f, np.ones_like(jj)], -1
    )
    rot = _yaw_matrices(np.asarray(scene["camera_yaws"], "float64"))
    # (T, H, W, 3) world-frame directions: d_world = R d_cam per frame.
    directions = np.matmul(d_cam[None], np.transpose(rot, (0, 2, 1))[:, None])
    ox = origins_t[:, None, None, :]

    bg = scene["background"]
    with np.errstate(divide="ignore", invalid="ignore"):
        wall = (bg["wall_depth"] - ox[..., 2]) / directions[..., 2]
        floor = (bg["floor_height"] - ox[..., 1]) / directions[..., 1]
    wall = np.where(wall > 1e-3, wall, np.inf)
    floor = np.where((directions[..., 1] < 0) & (floor > 1e-3), floor, np.inf)
    # Nearest surface so far: z-buffering surface by surface; objects only
    # touch the pixels of their screen-space bounding window.
    instances = (floor < wall).astype("int32")
    depth = np.minimum(wall, floor)
    layers = [wall, floor] if return_layers else None
    for k, obj in enumerate(scene["objects"], start=2):
        hits = np.full(wall.shape, np.inf) if return_layers else None
        sphere = obj["shape"] == "sphere"
        bound = obj["radius"] if sphere else np.linalg.norm(obj["half_extents"])
        for t in range(len(origins_t)):
            window = _screen_window(
                origins_t[t], rot[t], obj["centres"][t], bound, f, height, width
            )
            if window is None:
                continue
            r0, r1, c0, c1 = window
            rays = directions[t, r0:r1, c0:c1]
            if sphere:
                hit = _sphere_hits(origins_t[t], rays, obj["centres"][t], obj["radius"])
            else:
                hit = _box_hits(
                    origins_t[t],
                    rays,
                    obj["centres"][t],
                    obj["rotations"][t],
                    obj["half_extents"],
                )
            nearer = hit < depth[t, r0:r1, c0:c1]
            depth[t, r0:r1, c0:c1][nearer] = hit[nearer]
            instances[t, r0:r1, c0:c1][nearer] = k
            if return_layers:
                hits[t, r0:r1, c0:c1] = hit
        if return_layers:
            layers.append(hits)

    video = np.zeros(depth.shape + (3,), "float32")
    light = scene["light"]
    pattern = bg["pattern"]
    for k in range(len(scene["objects"]) + 2):
        sel = instances == k
        if not sel.any():
            continue
        frame = np.nonzero(sel)[0]
        p = origins_t[frame] + depth[sel][:, None] * directions[sel]
        if k == 0:
            weight = scene_texture_weight(pattern, p[:, 0], p[:, 1])
            colours = bg["wall_colours"]
            normal_dot = np.full(len(p), max(-light[2], 0.0))
        elif k == 1:
            weight = scene_texture_weight(pattern, p[:, 0], p[:, 2])
            colours = bg["floor_colours"]
            normal_dot = np.full(len(p), max(light[1], 0.0))
        else:
            obj = scene["objects"][k - 2]
            offsets = p - obj["centres"][frame]
            local = np.matmul(offsets[:, None, :], obj["rotations"][frame])[:, 0]
            if obj["shape"] == "sphere":
                q = local / obj["radius"]
                u = np.arctan2(q[:, 0], q[:, 2]) * 2.0 / np.pi
                v = q[:, 1] * 2.0
                normals = offsets / obj["radius"]
            else:
                scaled = np.abs(local) / obj["half_extents"]
                axis = np.argmax(scaled, axis=-1)
                others = np.array([[1, 2], [0, 2], [0, 1]])[axis]
                uv = np.take_along_axis(local, others, axis=-1)
                uv = uv / obj["half_extents"].max()
                u, v = uv[:, 0], uv[:, 1]
                local_normals = np.zeros_like(local)
                local_normals[np.arange(len(p)), axis] = np.sign(
                    local[np.arange(len(p)), axis]
                )
                normals = np.matmul(
                    obj["rotations"][frame], local_normals[:, :, None]
                )[..., 0]
            weight = texture_weight(obj["texture"], u, v, obj["frequency"])
            colours = obj["colours"]
            normal_dot = np.clip(normals @ light, 0.0, 1.0)
        base = colours[0] * (1 - weight[:, None]) + colours[1] * weight[:, None]
        shade = AMBIENT + (1 - AMBIENT) * normal_dot
        video[sel] = base * shade[:, None]

    out = {
        "video": np.clip(video, 0.0, 1.0),
        "depth": depth.astype("float32"),
        "instances": instances,
    }
    if return_layers:
        out["layers"] = np.stack(layers).astype("float32")
    return out
