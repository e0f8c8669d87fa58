"""Class-index labels for classification tasks: checked before `fit`, and
a loss that stops training at a batch holding a label out of range."""

import keras
import numpy as np
from keras import ops


class ClassIndexLabels:
    """Mixin for task models with `num_classes` logits.

    - `check_targets` refuses NumPy labels that are not class indices in
      `[0, num_classes)`, naming the first bad one;
    - `compile` defaults to AdamW, sparse cross-entropy on logits and
      accuracy;
    - `compute_loss` is NaN for a batch with an out-of-range label (from a
      dataset, which cannot be checked up front), so that `fit`'s
      `NonFiniteGuard` stops at that step.

    Example:
    ```python
    class MyClassifier(ClassIndexLabels, KerasHubTask):
        ...
    ```
    """

    def check_targets(self, targets):
        """Refuses NumPy labels that are not class indices in `[0, num_classes)`.

        (JAX's cross-entropy trains on an out-of-range label without a word,
        PyTorch's fails without naming the class count.)
        """
        if not isinstance(targets, np.ndarray):
            return
        if targets.size and not (
            np.issubdtype(targets.dtype, np.integer)
            or (np.issubdtype(targets.dtype, np.floating) and np.array_equal(targets, np.round(targets)))
        ):
            raise ValueError(
                f"Labels must be class indices in [0, {self.num_classes}); received dtype "
                f"{targets.dtype} with non-integer values."
            )
        bad = np.flatnonzero((targets < 0) | (targets >= self.num_classes))
        if len(bad):
            raise ValueError(
                f"{len(bad)} labels are outside [0, {self.num_classes}) (this classifier has "
                f"num_classes={self.num_classes}): e.g. label {targets.flat[bad[0]].item()!r} at index "
                f"{bad[0]}. Fix the labels, or build the classifier with more classes."
            )

    def compile(self, optimizer="adamw", loss="auto", metrics="auto", **kwargs):
        """Defaults: AdamW, sparse cross-entropy on logits, accuracy."""
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss, NaN when a label is outside `[0, num_classes)`.

        Labels from a dataset cannot be checked before training as NumPy
        ones are; out of range, JAX would train on them silently and
        PyTorch fail without naming the class count. The loss is computed
        on in-range labels and made NaN for a batch holding any other, so
        that the `NonFiniteGuard` of `fit` stops at that step.
        """
        if y is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        labels = ops.cast(y, "int32")
        valid = ops.logical_and(labels >= 0, labels < self.num_classes)
        safe = ops.where(valid, labels, ops.zeros_like(labels))
        loss = super().compute_loss(x, safe, y_pred, sample_weight, training=training)
        return ops.where(ops.all(valid), loss, ops.full_like(loss, float("nan")))
