"""Writes the packaged keras-hub directory of every architecture preset.

`keras_layerlock/models/video_vit/presets/<name>/` holds `config.json`,
`metadata.json` and an empty weight index for each built-in architecture
preset, generated from the table in `video_vit_presets.py`. Run this after
changing that table; `tests/test_video_vit_backbone.py` fails while the
packaged files differ from it.

Usage:
    python tools/write_architecture_presets.py
"""

import json
import os
import shutil

from keras_layerlock.models.video_vit.video_vit_presets import ARCHITECTURE_PRESETS_DIR
from keras_layerlock.models.video_vit.video_vit_presets import VIDEO_VIT_PRESETS
from keras_layerlock.models.video_vit.video_vit_presets import architecture_preset_files


def main():
    names = sorted(name for name, entry in VIDEO_VIT_PRESETS.items() if "config" in entry)
    if os.path.isdir(ARCHITECTURE_PRESETS_DIR):
        shutil.rmtree(ARCHITECTURE_PRESETS_DIR)
    for name in names:
        directory = os.path.join(ARCHITECTURE_PRESETS_DIR, name)
        os.makedirs(directory)
        for filename, content in architecture_preset_files(name).items():
            with open(os.path.join(directory, filename), "w", encoding="utf-8") as f:
                json.dump(content, f, indent=4)
                f.write("\n")
    print(f"wrote {len(names)} architecture presets under {ARCHITECTURE_PRESETS_DIR}")


if __name__ == "__main__":
    main()
