import keras
import numpy as np

from keras_layerlock.utils.keras_internals import optimizer_batch_count


class NonFiniteTrainingError(FloatingPointError):
    """`fit` met a non-finite loss or weight; the weights were restored."""


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops `fit` at the first non-finite loss or weight, weights intact.

    Keras' `TerminateOnNaN` stops after the update of the failing step has
    been applied, so the model it leaves holds NaN weights and the run is
    lost. This callback keeps a host copy of every model and optimizer
    variable as of the last step that ended finite (checked every
    `snapshot_every_n_steps` steps), and when a step's loss (any `*loss*`
    log) or a weight is NaN or Inf it puts that copy back and raises
    `NonFiniteTrainingError` naming the epoch, the batch, the global step
    and the non-finite logs. `PretrainingModel.fit` and the readouts' `fit`
    add one unless `callbacks` holds one.

    A snapshot costs one device-to-host copy of the variables (on JAX also
    the trainer's state sync) per checked step: a few milliseconds for a
    small ViT. For large models check less often; the restored weights are
    then those of the last checked step.

    Args:
        snapshot_every_n_steps: int >= 0. Steps between snapshots (and
            weight checks); 1 restores the weights of the step just before
            the failing one; 0 keeps no snapshot and only stops on a
            non-finite loss, leaving the weights as they are.

    Example:
    ```python
    guard = keras_layerlock.callbacks.NonFiniteGuard(snapshot_every_n_steps=10)
    model.fit(train, epochs=3, callbacks=[guard])
    ```
    """

    def __init__(self, snapshot_every_n_steps=10):
        super().__init__()
        if isinstance(snapshot_every_n_steps, bool) or not isinstance(
            snapshot_every_n_steps, (int, np.integer)
        ) or snapshot_every_n_steps < 0:
            raise ValueError(
                "`snapshot_every_n_steps` must be an int >= 0 (0: no snapshot); received "
                f"{snapshot_every_n_steps!r}."
            )
        self.snapshot_every_n_steps = int(snapshot_every_n_steps)
        self._snapshot = None
        self._snapshot_step = None
        self._epoch = 0
        self._steps_since_snapshot = 0

    def on_train_begin(self, logs=None):
        self._snapshot = None
        self._steps_since_snapshot = 0
        if self.snapshot_every_n_steps:
            self._take_snapshot(check=False)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad_logs = {
            key: value for key, value in (logs or {}).items()
            if "loss" in key and not _is_finite(value)
        }
        self._steps_since_snapshot += 1
        if bad_logs:
            self._stop(batch, f"the loss is not finite ({_format(bad_logs)})")
        if self.snapshot_every_n_steps and self._steps_since_snapshot >= self.snapshot_every_n_steps:
            self._take_snapshot(check=True, batch=batch)

    def _variables(self):
        model = self.model  # on JAX, this syncs the trainer's state into the variables
        variables = list(model.variables)
        if model.optimizer is not None:
            variables += list(model.optimizer.variables)
        seen, unique = set(), []
        for variable in variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                unique.append(variable)
        return unique

    def _take_snapshot(self, check, batch=None):
        snapshot = [(v, np.array(keras.ops.convert_to_numpy(v.value))) for v in self._variables()]
        if check:
            bad = [v.path for v, value in snapshot
                   if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all()]
            if bad:
                shown = ", ".join(bad[:3]) + (", ..." if len(bad) > 3 else "")
                self._stop(batch, f"{len(bad)} variables became non-finite ({shown})")
        self._snapshot = snapshot
        self._snapshot_step = self._global_step()
        self._steps_since_snapshot = 0

    def _global_step(self):
        optimizer = self.model.optimizer
        return optimizer_batch_count(optimizer) if optimizer is not None else None

    def _stop(self, batch, what):
        step = self._global_step()
        where = f"epoch {self._epoch + 1}, batch {batch + 1}" + (
            f" (global step {step})" if step is not None else ""
        )
        if self._snapshot is not None:
            for variable, value in self._snapshot:
                variable.assign(value)
            kept = (f"The weights and optimizer state of global step {self._snapshot_step} "
                    "were restored, so nothing trained before is lost.")
        else:
            kept = ("No snapshot was kept (snapshot_every_n_steps=0): the weights are those "
                    "after the failing step.")
        self.model.stop_training = True
        raise NonFiniteTrainingError(
            f"Training stopped at {where}: {what}. {kept} Usual causes: a NaN or Inf "
            "in that batch's inputs or targets, labels outside the classifier's range, or a "
            "learning rate too high."
        )


def _is_finite(value):
    try:
        return bool(np.all(np.isfinite(keras.ops.convert_to_numpy(value))))
    except (TypeError, ValueError):
        return True


def _format(logs):
    return ", ".join(f"{key}={float(np.asarray(keras.ops.convert_to_numpy(v))):g}"
                     for key, v in logs.items())

