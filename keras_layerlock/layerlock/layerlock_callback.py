import numbers

import keras

from keras_layerlock.layerlock.layerlock_learning_rate import LayerLockLearningRate
from keras_layerlock.layerlock.layerlock_schedule import LayerLockSchedule
from keras_layerlock.utils.argument_validation import require_integer
from keras_layerlock.utils.keras_internals import accumulation_steps
from keras_layerlock.utils.keras_internals import callback_model
from keras_layerlock.utils.keras_internals import optimizer_batch_count
from keras_layerlock.utils.keras_internals import optimizer_learning_rate_object


class LayerLockCallback(keras.callbacks.Callback):
    """Moves a LayerLock model along its freezing schedule during `fit`.

    Before every batch the callback computes the LayerLock state of the
    current training step from a `LayerLockSchedule` (a pure function of
    the step counter, read from the optimizer's iteration count at the
    start of `fit`, so resumed runs continue where they were). At a freezing
    event it:

    1. syncs the model state to its variables (JAX keeps it outside the
       variables mid-epoch; `self.model` does the sync);
    2. calls the model's `set_layerlock_state`, which sets `layer.trainable`
       on the newly frozen blocks and narrows the optimizer to the remaining
       variables, keeping their moments and the iteration count;
    3. rebuilds the train function, so that TensorFlow and JAX retrace the
       step with the new frozen prefix (forward only) and the new target.

    It also configures the model's `LayerLockLearningRate` for a linear
    re-warm-up of `rewarmup_steps` after each event (on by default). The
    number of frozen blocks and the target block appear in the `fit` logs as
    `num_frozen_layers` and `target_layer` (progress bar, `CSVLogger`,
    TensorBoard).

    Works with `keras.callbacks.BackupAndRestore`: the state is recomputed
    from the restored iteration count at the first batch.

    Adaptive start (off by default). LayerLock's heuristic for when to start
    freezing is that the parameter norms of the first blocks plateau. With
    `adaptive=True` the first event waits until, for each of the first
    `plateau_layers` blocks, the norm of all its parameters changed by less
    than `plateau_tolerance` (relative) over the last `plateau_window`
    steps, checked every `check_every` steps (each check reads the weights,
    which under JAX syncs the training state); `num_steps_before_first_freeze`
    then becomes that step and the rest of the schedule follows it. The
    decided step is in `callback.first_freeze_step`; to resume such a run,
    pass a fixed schedule with that value.

    Args:
        schedule: a `LayerLockSchedule`.
        rewarmup_steps: int. Length of the learning-rate re-warm-up after
            each event; defaults to a tenth of the steps between events,
            capped at 1,000. 0 disables it.
        verbose: int. 1 prints a line at each event.
        adaptive: bool. Start freezing when the first blocks' parameter
            norms plateau instead of at `num_steps_before_first_freeze`.
        plateau_layers, plateau_window, plateau_tolerance, check_every:
            the plateau test of the adaptive start (defaults 1, 500 steps,
            0.005, 50 steps).

    Example:
    ```python
    schedule = LayerLockSchedule(num_steps_before_first_freeze=300,
                                 num_steps_between_freezes=100,
                                 target_layers=[1, 2, 3])
    model.fit(data, epochs=10, callbacks=[LayerLockCallback(schedule)])
    ```
    """

    def __init__(
        self,
        schedule: "LayerLockSchedule",
        rewarmup_steps: int | None = None,
        verbose: int = 1,
        adaptive: bool = False,
        plateau_layers: int = 1,
        plateau_window: int = 500,
        plateau_tolerance: float = 0.005,
        check_every: int = 50,
    ):
        super().__init__()
        if not isinstance(schedule, LayerLockSchedule):
            raise ValueError(
                f"`schedule` must be a LayerLockSchedule; received {type(schedule).__name__}."
            )
        if rewarmup_steps is None:
            rewarmup_steps = min(1000, schedule.num_steps_between_freezes // 10)
        self.schedule = schedule
        self.rewarmup_steps = require_integer(rewarmup_steps, "rewarmup_steps", minimum=0)
        self.verbose = verbose
        self.adaptive = bool(adaptive)
        self.plateau_layers = require_integer(plateau_layers, "plateau_layers", minimum=1)
        self.plateau_window = require_integer(plateau_window, "plateau_window", minimum=1)
        self.check_every = require_integer(check_every, "check_every", minimum=1)
        if (isinstance(plateau_tolerance, bool) or not isinstance(plateau_tolerance, numbers.Real)
                or not 0 < plateau_tolerance < float("inf")):
            # A change is never below a tolerance <= 0: freezing would never start.
            raise ValueError(
                "`plateau_tolerance` must be a positive number (the relative change of "
                f"the parameter norms that counts as a plateau); received {plateau_tolerance!r}."
            )
        self.plateau_tolerance = float(plateau_tolerance)
        self.first_freeze_step = None if self.adaptive else schedule.num_steps_before_first_freeze
        self.norm_history = []
        self._batches = None
        self._accumulation = 1
        self.events = []

    def on_train_begin(self, logs=None):
        model = self.model
        if not hasattr(model, "set_layerlock_state"):
            raise ValueError(
                "LayerLockCallback drives LayerLock models (e.g. LayerLockMAE); "
                f"received a {type(model).__name__}."
            )
        self.schedule.validate_for(model.num_encoder_layers)
        learning_rate = optimizer_learning_rate_object(model.optimizer)
        if isinstance(learning_rate, LayerLockLearningRate):
            learning_rate.event_steps = (
                self.schedule.event_steps if self.first_freeze_step is not None else []
            )
            learning_rate.rewarmup_steps = self.rewarmup_steps
        elif self.rewarmup_steps:
            raise ValueError(
                "The learning-rate re-warm-up needs the model compiled with "
                "`LayerLockMAE.compile` (it wraps the learning rate); or pass "
                "rewarmup_steps=0."
            )
        # Read at the first batch: BackupAndRestore restores the optimizer's
        # iteration count in its own on_train_begin, possibly after this one.
        self._batches = None

    def on_train_batch_begin(self, batch, logs=None):
        if self._batches is None:
            self._read_batch_count()
        model = callback_model(self)  # no JAX state sync unless something changes
        if self._batches % self._accumulation:
            return  # events fall on update boundaries
        if self.first_freeze_step is None:
            self._check_plateau()
            if self.first_freeze_step is None:
                return
        self._apply_state_at(self._step, model)

    def _apply_state_at(self, step, model):
        """Puts `model` in the schedule's state at `step` if it is not in it."""
        _, num_frozen, target = self.schedule.state_at(step)
        if (num_frozen, target) != (model.num_frozen_layers, model.target_layer):
            self._apply(num_frozen, target)

    def _apply(self, num_frozen, target):
        model = self.model  # under JAX this syncs the state to the variables
        model.set_layerlock_state(num_frozen, target)
        model.make_train_function(force=True)
        self.events.append({"step": self._step, "num_frozen_layers": num_frozen, "target_layer": target})
        if self.verbose:
            print(
                f"\nLayerLock step {self._step}: {num_frozen} block(s) frozen, "
                f"target = output of block {target}"
            )

    def _read_batch_count(self):
        optimizer = self.model.optimizer
        self._accumulation = accumulation_steps(optimizer)
        self._batches = optimizer_batch_count(optimizer)

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1

    def on_train_end(self, logs=None):
        # A `fit` that ran no batch (a finished run restored by
        # BackupAndRestore) leaves the model in the state of the last step
        # the restored run trained, as the uninterrupted run did.
        if self._batches is not None or self.first_freeze_step is None:
            return
        self._read_batch_count()
        self._apply_state_at(max(self._step - 1, 0), self.model)

    @property
    def _step(self):
        # Counted in batches, scheduled in optimizer updates: with gradient
        # accumulation `optimizer.iterations` counts updates.
        return self._batches // self._accumulation

    def _check_plateau(self):
        if self._step % self.check_every:
            return
        model = self.model  # under JAX this syncs the weights
        norms = []
        for block in model.backbone.transformer_layers[: self.plateau_layers]:
            squares = [
                float(keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.square(v))))
                for v in block.weights
            ]
            norms.append(sum(squares) ** 0.5)
        self.norm_history.append((self._step, norms))
        old = [n for s, n in self.norm_history if s <= self._step - self.plateau_window]
        if not old:
            return
        reference = old[-1]
        change = max(abs(a - b) / max(b, 1e-12) for a, b in zip(norms, reference))
        if change < self.plateau_tolerance:
            config = self.schedule.get_config()
            config["num_steps_before_first_freeze"] = self._step
            self.schedule = LayerLockSchedule.from_config(config)
            self.first_freeze_step = self._step
            learning_rate = optimizer_learning_rate_object(callback_model(self).optimizer)
            if isinstance(learning_rate, LayerLockLearningRate):
                learning_rate.event_steps = self.schedule.event_steps
            if self.verbose:
                print(
                    f"\nLayerLock: first-block parameter norms plateaued "
                    f"(relative change {change:.2e} over {self.plateau_window} "
                    f"steps); freezing starts at step {self._step}."
                )
