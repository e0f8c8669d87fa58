import json
import os

CALIBRATION_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calibration")


def calibration_path(difficulty, num_frames, image_size):
    """Where the calibration of one suite configuration is kept (package data)."""
    return os.path.join(CALIBRATION_DIR, f"{difficulty}_{num_frames}x{image_size}x{image_size}.json")


def suite_calibration(difficulty="standard", num_frames=8, image_size=32, num_train=None,
                      num_test=None):
    """The measured calibration of a procedural-suite configuration.

    `tools/calibrate_suite.py --save_to_package` measures, per task and on
    the suite's test clips, chance and trivial baselines, a linear probe on
    pixels, the random-init floor and the supervised ceiling, and stores
    them with the library. Anything comparing against them must use the
    same clips, labelled-set size and test clips; this checks that.

    Args:
        difficulty, num_frames, image_size: the suite configuration.
        num_train, num_test: optional; when given they must match the
            calibration's labelled training clips and test clips.

    Returns:
        dict with `results` (`{task: {baseline: interval}}`), `checks`,
        `args` and `source`.

    Example:
    ```python
    calibration = kl.data.procedural.suite_calibration("standard", 8, 32)
    calibration["results"]["motion"]["ceiling"]["value"]
    ```
    """
    path = calibration_path(difficulty, num_frames, image_size)
    if not os.path.exists(path):
        known = sorted(f[:-5] for f in os.listdir(CALIBRATION_DIR) if f.endswith(".json"))
        raise ValueError(
            f"No calibration for the {difficulty} suite at {num_frames} x {image_size} x "
            f"{image_size}; calibrated: {known}. Run `python tools/calibrate_suite.py "
            f"--difficulty {difficulty} --num_frames {num_frames} --image_size {image_size} "
            "--save_to_package`."
        )
    with open(path) as f:
        calibration = json.load(f)
    # The suite's fingerprint changes with its format version: a calibration
    # of an older rendering of the clips does not describe the current one.
    from keras_layerlock.data.procedural.procedural_video_suite import ProceduralVideoSuite

    current = ProceduralVideoSuite(num_frames, image_size, difficulty=difficulty).fingerprint()
    if calibration.get("suite_fingerprint") != current:
        raise ValueError(
            f"The calibration in {path} was measured on suite "
            f"{calibration.get('suite_fingerprint')!r}, not on the current {current!r}. "
            "Re-run tools/calibrate_suite.py --save_to_package."
        )
    for key, value in (("num_train", num_train), ("num_test", num_test)):
        if value is not None and calibration["args"][key] != value:
            raise ValueError(
                f"The calibration in {path} used {key}={calibration['args'][key]}, but "
                f"{value} was asked for. Re-run tools/calibrate_suite.py with --{key} {value}, "
                "or use the calibrated setting."
            )
    calibration["source"] = os.path.relpath(path, os.path.dirname(CALIBRATION_DIR))
    return calibration
