import warnings

import keras

from keras_layerlock.utils.argument_validation import require_integer
from keras_layerlock.utils.argument_validation import require_integer_list


@keras.saving.register_keras_serializable(package="keras_layerlock")
class LayerLockSchedule:
    """When LayerLock freezes blocks and which block it predicts after each.

    LayerLock (Erdogan et al., 2025, Sec. 3) trains a masked autoencoder on
    pixels, then at freezing event `i` (`i = 1 ... len(target_layers)`)
    freezes the first `min(i * num_layers_per_freeze, max_frozen_layers)`
    encoder blocks (the patch embedding and position parameters freeze with
    the first block) and switches the prediction target to the output of
    block `target_layers[i - 1]` (1-based). Event `i` happens at step
    `num_steps_before_first_freeze + (i - 1) * num_steps_between_freezes`.

    The state is a pure function of the step counter (`state_at(step)`), so
    a resumed run recovers it from the optimizer's iteration count.

    Paper schedules (LayerLock supplementary, Tables 8-10):

    | setting | first freeze | between | layers/event | target layers |
    |---|---|---|---|---|
    | 4DS ViT-G / ViT-e | 160-200 k | 10 k | 1 | 1 ... 32 |
    | V-JEPA ViT-L | 100 k | 6 k | 1 | 1 ... 24 |
    | ablation ViT-B | 6 k | 4 k | 2 | 1, 3, 5, 7 |

    Args:
        num_steps_before_first_freeze: int. Steps of pixel-only training.
        num_steps_between_freezes: int. Steps between events (>= 1).
        num_layers_per_freeze: int. Blocks frozen per event; defaults to 1.
        target_layers: list of 1-based block indices, one per event. Each
            must be frozen when it becomes the target. Defaults to the
            newest frozen block of each event, up to `max_frozen_layers`.
        max_frozen_layers: int or None. Cap on the number of frozen blocks; defaults to
            `len(target_layers) * num_layers_per_freeze`.

    Raises:
        ValueError: for a target that is not yet frozen when it becomes the
            target, non-positive step counts, or an empty schedule; the
            message names the event.

    Example:
    ```python
    schedule = LayerLockSchedule(
        num_steps_before_first_freeze=6000, num_steps_between_freezes=4000,
        num_layers_per_freeze=2, target_layers=[1, 3, 5, 7])
    schedule.state_at(10_500)  # (2, 4, 3): event 2 done, 4 blocks, target 3
    ```
    """

    def __init__(
        self,
        num_steps_before_first_freeze: int,
        num_steps_between_freezes: int,
        num_layers_per_freeze: int = 1,
        target_layers: list[int] | None = None,
        max_frozen_layers: int | None = None,
    ):
        first = require_integer(
            num_steps_before_first_freeze, "num_steps_before_first_freeze", minimum=0)
        between = require_integer(num_steps_between_freezes, "num_steps_between_freezes", minimum=1)
        per = require_integer(num_layers_per_freeze, "num_layers_per_freeze", minimum=1)
        if max_frozen_layers is not None:
            max_frozen_layers = require_integer(max_frozen_layers, "max_frozen_layers", minimum=1)
        if target_layers is None:
            if max_frozen_layers is None:
                raise ValueError(
                    "Pass `target_layers` (one block index per freezing event) "
                    "or `max_frozen_layers` (then each event targets the newest "
                    "frozen block)."
                )
            count = -(-max_frozen_layers // per)
            target_layers = [min(i * per, max_frozen_layers) for i in range(1, count + 1)]
        target_layers = require_integer_list(target_layers, "target_layers")
        if not target_layers:
            raise ValueError(
                "`target_layers` is empty: a schedule needs at least one event. "
                "Pass e.g. target_layers=[1, 2, 3]."
            )
        if max_frozen_layers is None:
            max_frozen_layers = len(target_layers) * per
        self.num_steps_before_first_freeze = first
        self.num_steps_between_freezes = between
        self.num_layers_per_freeze = per
        self.target_layers = target_layers
        self.max_frozen_layers = int(max_frozen_layers)
        for event, target in enumerate(target_layers, start=1):
            depth = self.num_frozen_layers_after(event)
            if not 1 <= target <= depth:
                raise ValueError(
                    f"Freezing event {event} (step {self.event_step(event)}) "
                    f"switches the target to block {target}, but only blocks "
                    f"1..{depth} are frozen after it. A target must already be "
                    "frozen when it becomes the target (targets are 1-based "
                    "block indices)."
                )

    @property
    def num_events(self):
        return len(self.target_layers)

    def event_step(self, event):
        """Training step at which 1-based `event` happens."""
        return self.num_steps_before_first_freeze + (event - 1) * self.num_steps_between_freezes

    @property
    def event_steps(self):
        return [self.event_step(i) for i in range(1, self.num_events + 1)]

    def num_frozen_layers_after(self, event: int) -> int:
        """Blocks frozen after `event` events (0: none)."""
        return min(event * self.num_layers_per_freeze, self.max_frozen_layers)

    def frozen_depth_after(self, event):
        """Deprecated name of `num_frozen_layers_after`."""
        warnings.warn(
            "`frozen_depth_after` is deprecated; use `num_frozen_layers_after`.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.num_frozen_layers_after(event)

    def state_at(self, step: int) -> tuple[int, int, int]:
        """`(num_events_done, num_frozen_layers, target_layer)` at a step.

        `target_layer` is 0 (pixels) before the first event.
        """
        step = int(step)
        if step < self.num_steps_before_first_freeze:
            return (0, 0, 0)
        event = min(
            self.num_events,
            1 + (step - self.num_steps_before_first_freeze) // self.num_steps_between_freezes,
        )
        return (event, self.num_frozen_layers_after(event), self.target_layers[event - 1])

    def validate_for(self, num_encoder_layers):
        """Rejects schedules that freeze more blocks than the encoder has.

        Args:
            num_encoder_layers: blocks that may be frozen (the backbone's
                blocks minus those used as the decoder).
        """
        for event in range(1, self.num_events + 1):
            depth = self.num_frozen_layers_after(event)
            if depth > num_encoder_layers:
                raise ValueError(
                    f"Freezing event {event} (step {self.event_step(event)}) "
                    f"would freeze {depth} blocks, but the encoder has only "
                    f"{num_encoder_layers} (the blocks after them are the "
                    "decoder, which must keep training). Lower "
                    "`max_frozen_layers` / `target_layers` or use fewer "
                    "decoder layers."
                )

    def get_config(self):
        return {
            "num_steps_before_first_freeze": self.num_steps_before_first_freeze,
            "num_steps_between_freezes": self.num_steps_between_freezes,
            "num_layers_per_freeze": self.num_layers_per_freeze,
            "target_layers": list(self.target_layers),
            "max_frozen_layers": self.max_frozen_layers,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"LayerLockSchedule({self.get_config()})"
