import numpy as np


def bootstrap_interval(numerators, denominators=None, confidence=0.95, num_resamples=2000,
                       seed=0):
    """Point estimate and percentile-bootstrap interval over runs and clips.

    The statistic is the mean over runs (e.g. readout seeds) of a per-run
    ratio over clips, `sum(numerators[r, clips]) / sum(denominators[r, clips])`
    (with no denominators, the mean of the numerators: accuracy from
    per-clip correctness; with them, e.g. AbsRel from per-clip sums of
    relative errors and counts of valid pixels). Each resample draws the
    runs with replacement *and* the clips with replacement (the same clips
    for every run), so the interval covers both the choice of evaluation
    clips and the readout's training noise.

    Args:
        numerators: `(num_runs, num_clips)` or `(num_clips,)` per-clip values.
        denominators: same shape, or None.
        confidence: float in (0, 1).
        num_resamples: int.
        seed: int.

    Returns:
        dict `value`, `low`, `high`, `confidence`, `num_runs`, `num_clips`.

    Example:
    ```python
    correct = predictions == labels            # (num_seeds, num_clips) booleans
    bootstrap_interval(correct.astype(float))  # accuracy with a 95 % interval
    ```
    """
    numerators = np.asarray(numerators, "float64")
    if numerators.ndim == 1:
        numerators = numerators[None]
    denominators = (np.ones_like(numerators) if denominators is None
                    else np.asarray(denominators, "float64"))
    if denominators.ndim == 1:
        denominators = denominators[None]
    if numerators.ndim != 2 or numerators.shape != denominators.shape or numerators.size == 0:
        raise ValueError(
            "Expected non-empty `numerators` and `denominators` of one shape (num_runs, "
            f"num_clips); received {numerators.shape} and {denominators.shape}."
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1); received {confidence}.")
    if not (np.all(np.isfinite(numerators)) and np.all(np.isfinite(denominators))):
        raise ValueError("Per-clip values contain NaN or infinite entries.")
    num_runs, num_clips = numerators.shape

    def statistic(runs, clips):
        num = numerators[runs][:, clips].sum(axis=-1)
        den = denominators[runs][:, clips].sum(axis=-1)
        return float(np.mean(num / np.maximum(den, 1e-12)))

    rng = np.random.default_rng(seed)
    samples = np.empty(num_resamples)
    for i in range(num_resamples):
        runs = rng.integers(0, num_runs, num_runs)
        clips = rng.integers(0, num_clips, num_clips)
        samples[i] = statistic(runs, clips)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return {
        "value": statistic(np.arange(num_runs), np.arange(num_clips)),
        "low": float(low),
        "high": float(high),
        "confidence": confidence,
        "num_runs": int(num_runs),
        "num_clips": int(num_clips),
    }


def intervals_overlap(a, b):
    """True when two `bootstrap_interval` results' intervals overlap."""
    return not (a["high"] < b["low"] or b["high"] < a["low"])
