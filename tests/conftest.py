import os

import keras
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(autouse=True)
def _float32_and_seed():
    keras.config.set_floatx("float32")
    keras.utils.set_random_seed(1234)
    yield
