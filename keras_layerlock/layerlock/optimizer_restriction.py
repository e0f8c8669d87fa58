"""Keeping a built Keras optimizer in step with layers frozen mid-training.

Keras optimizers are built once on the list of trainable variables and map
each variable to its slots (AdamW's moments, accumulators, EMA copies) by
index. When layers are frozen during `fit`, the trainer starts passing
fewer variables: the JAX trainer then fails inside `stateless_apply`, and
TensorFlow keeps updating the old list until the train function is traced
again.

`restrict_optimizer` narrows the optimizer's notion of "trainable" to the
variables that remain, keeping each one's original slot index, so that:

- the moments and the iteration count of the remaining variables carry on
  untouched (no reset, no re-build, no `compile()`);
- frozen variables get no update of any kind (no gradient step, no weight
  decay, no moment drift);
- `optimizer.variables` keeps its layout (the slots of frozen variables
  stay, unchanged), so checkpoints written before and after a freezing
  event load into the same optimizer.

The caller must rebuild the train function afterwards
(`model.make_train_function(force=True)`), and under JAX must sync the
model state to the variables before changing `trainable` flags.
"""

from keras_layerlock.utils.keras_internals import optimizer_variable_indices
from keras_layerlock.utils.keras_internals import optimizer_variable_key
from keras_layerlock.utils.keras_internals import set_optimizer_trainable_variables


def restrict_optimizer(optimizer, trainable_variables):
    """Makes a built optimizer update only `trainable_variables`.

    Args:
        optimizer: a built `keras.optimizers.Optimizer`.
        trainable_variables: the variables that stay trainable, in the order
            the trainer passes them (`model.trainable_variables`); every one
            must be known to the optimizer.

    Raises:
        ValueError: if a variable was not part of the optimizer's build.
    """
    if not optimizer.built:
        return
    known = _original_indices(optimizer)
    keep = list(trainable_variables)
    keys = [optimizer_variable_key(optimizer, v) for v in keep]
    unknown = [v.path for v, key in zip(keep, keys) if key not in known]
    if unknown:
        raise ValueError(
            "Cannot restrict the optimizer to variables it was not built "
            f"with: {unknown}. Unfreezing layers needs a fresh optimizer "
            "(compile again)."
        )
    indices = {key: known[key] for key in keys}
    set_optimizer_trainable_variables(optimizer, keep, indices)


def _original_indices(optimizer):
    # The first restriction records the build-time index of every variable.
    if not hasattr(optimizer, "_layerlock_build_indices"):
        optimizer._layerlock_build_indices = dict(optimizer_variable_indices(optimizer))
    return optimizer._layerlock_build_indices
