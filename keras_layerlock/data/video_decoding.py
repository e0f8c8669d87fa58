"""Decoding video files with OpenCV, with explicit failures.

OpenCV reports a broken file by returning nothing rather than raising;
this module turns every such case into a `VideoDecodeError` that says what
went wrong, so data pipelines can skip and count the file instead of
feeding empty or partial clips to a model.
"""

import os

import cv2
import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg")


class VideoDecodeError(RuntimeError):
    """A video file could not be decoded (missing, unreadable, corrupt, truncated)."""


def decode_video(path, shorter_side=None, allow_truncated=False):
    """Decodes every frame of a video file.

    Args:
        path: str, file path.
        shorter_side: int or None. Resize each frame while decoding so that
            its shorter side is this many pixels (keeps memory low for long
            or large videos); None keeps the native size.
        allow_truncated: bool. By default a video whose container promises
            more frames than can be decoded (a truncated file; a tolerance
            of 2 frames or 5 % covers containers that only estimate their
            length) raises; True returns the frames that decoded.

    Returns:
        uint8 RGB array `(num_frames, height, width, 3)`.

    Raises:
        VideoDecodeError: the file is missing, empty, not a video, yields
            no frame, or (unless allowed) is truncated.
    """
    if not os.path.isfile(path):
        raise VideoDecodeError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(f"{path}: empty file (0 bytes)")
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise VideoDecodeError(f"{path}: OpenCV cannot open it as a video")
        expected = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            if frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            if shorter_side is not None:
                h, w = frame.shape[:2]
                scale = shorter_side / min(h, w)
                size = (max(1, round(w * scale)), max(1, round(h * scale)))
                interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
                frame = cv2.resize(frame, size, interpolation=interpolation)
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise VideoDecodeError(f"{path}: no frame could be decoded (corrupt or not a video)")
    tolerance = max(2, int(0.05 * expected))
    if not allow_truncated and expected > 0 and len(frames) < expected - tolerance:
        raise VideoDecodeError(
            f"{path}: truncated, decoded {len(frames)} of the {expected} frames "
            "its container declares"
        )
    return np.stack(frames)


def is_video_file(name):
    """Whether a file name has one of `VIDEO_EXTENSIONS` (any case)."""
    return name.lower().endswith(VIDEO_EXTENSIONS)


def list_flat_video_files(root):
    """Sorted paths of the videos directly inside `root` (no sub-folders)."""
    return sorted(
        os.path.join(root, name) for name in os.listdir(root)
        if is_video_file(name) and os.path.isfile(os.path.join(root, name))
    )


def list_class_folders(root):
    """Sorted names of the class sub-folders of `root` (hidden ones left out)."""
    return sorted(
        name for name in os.listdir(root)
        if not name.startswith(".") and os.path.isdir(os.path.join(root, name))
    )


def list_video_files(root):
    """Sorted `(path, class_name)` pairs of a one-sub-folder-per-class tree."""
    if not os.path.isdir(root):
        raise ValueError(f"Video folder {root!r} does not exist or is not a directory.")
    items = []
    for class_name in list_class_folders(root):
        class_dir = os.path.join(root, class_name)
        for dirpath, _, filenames in os.walk(class_dir):
            for name in sorted(filenames):
                if is_video_file(name):
                    items.append((os.path.join(dirpath, name), class_name))
    items.sort()
    return items
