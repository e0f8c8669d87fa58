"""What the library's models add to `keras.Model.fit`."""

from keras_layerlock.callbacks.dataset_epoch_sync import DatasetEpochSync
from keras_layerlock.callbacks.non_finite_guard import NonFiniteGuard


def with_fit_defaults(x, kwargs):
    """`fit` keyword arguments with the library's defaults filled in.

    - a `NonFiniteGuard`, unless `callbacks` holds one;
    - for a dataset with `set_epoch` (it shuffles itself from its seed and
      epoch): a `DatasetEpochSync`, and `shuffle=False` unless given, since
      Keras' own shuffling of its batches draws from Python's global
      random state, which a resumed run does not share.
    """
    kwargs = dict(kwargs)
    callbacks = list(kwargs.get("callbacks") or [])
    if not any(isinstance(c, NonFiniteGuard) for c in callbacks):
        callbacks.append(NonFiniteGuard())
    if callable(getattr(x, "set_epoch", None)):
        if not any(isinstance(c, DatasetEpochSync) and c.dataset is x for c in callbacks):
            callbacks.append(DatasetEpochSync(x))
        kwargs.setdefault("shuffle", False)
    kwargs["callbacks"] = callbacks
    return kwargs
