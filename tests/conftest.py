import atexit
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Many tests build models that compile to the same XLA programs (and the main
# job's smoke run starts one process per pretraining). JAX's persistent
# compilation cache, in a directory of this session's own, lets each program
# compile once; it is read when jax is imported, so it is set before keras.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _jax_cache = tempfile.mkdtemp(prefix="keras_layerlock_jax_cache_")
    atexit.register(shutil.rmtree, _jax_cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _jax_cache
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _float32_and_seed():
    keras.config.set_floatx("float32")
    keras.utils.set_random_seed(1234)
    yield
