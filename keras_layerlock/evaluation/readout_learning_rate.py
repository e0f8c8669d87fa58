import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_layerlock")
class ReadoutLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """The 4DS readout schedule: linear warm-up, then cosine decay.

    From 0 at step 0 to `learning_rate` at `warmup_steps` (linearly), then
    a cosine from `learning_rate` down to `final_learning_rate` at
    `num_steps`, where it stays. The values are those of
    `keras.optimizers.schedules.CosineDecay(0.0, num_steps - warmup_steps,
    alpha=final_learning_rate / learning_rate, warmup_target=learning_rate,
    warmup_steps=warmup_steps)`, computed without its branches: on the
    PyTorch backend, where every step runs eagerly, that halves the
    schedule's share of a short linear-probe step.

    Args:
        learning_rate: float. The peak.
        num_steps: int. Steps of the whole run (warm-up included).
        warmup_steps: int in [0, num_steps). 0 starts at the peak.
        final_learning_rate: float. The value from `num_steps` on.

    Example:
    ```python
    schedule = ReadoutLearningRate(1e-3, num_steps=500, warmup_steps=50)
    float(schedule(50))   # 1e-3, the peak
    float(schedule(500))  # 1e-7
    ```
    """

    def __init__(self, learning_rate, num_steps, warmup_steps=0, final_learning_rate=1e-7):
        learning_rate, num_steps, warmup_steps = float(learning_rate), int(num_steps), int(warmup_steps)
        if learning_rate <= 0.0 or num_steps < 1 or not 0 <= warmup_steps < num_steps \
                or not 0.0 <= float(final_learning_rate) <= learning_rate:
            raise ValueError(
                "Expected learning_rate > 0, num_steps >= 1, 0 <= warmup_steps < num_steps "
                "and 0 <= final_learning_rate <= learning_rate; received "
                f"learning_rate={learning_rate}, num_steps={num_steps}, "
                f"warmup_steps={warmup_steps}, final_learning_rate={final_learning_rate}."
            )
        self.learning_rate, self.num_steps, self.warmup_steps = learning_rate, num_steps, warmup_steps
        self.final_learning_rate = float(final_learning_rate)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak, warmup = self.learning_rate, self.warmup_steps
        progress = ops.clip((step - warmup) / (self.num_steps - warmup), 0.0, 1.0)
        floor = self.final_learning_rate / peak
        decayed = peak * ((1.0 - floor) * 0.5 * (1.0 + ops.cos(math.pi * progress)) + floor)
        if not warmup:
            return decayed
        return ops.where(step < warmup, step * (peak / warmup), decayed)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "num_steps": self.num_steps,
                "warmup_steps": self.warmup_steps,
                "final_learning_rate": self.final_learning_rate}
