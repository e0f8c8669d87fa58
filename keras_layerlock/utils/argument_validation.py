"""Checks for constructor arguments that must be whole numbers.

`int(2.5)` is 2 and `[int(c) for c in "12"]` is `[1, 2]`: a silent
truncation that turns a typo into a different experiment. These checks
accept Python and NumPy integers only (not `bool`, not floats, not strings)
and name the argument, the value received and what was expected.
"""

import numbers


def is_integer(value) -> bool:
    """Whether `value` is an integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def require_integer(value, name: str, minimum: int | None = None, maximum: int | None = None):
    """Returns `value` as an `int`, or raises naming what was received.

    Args:
        value: the argument.
        name: str. Its name, for the message.
        minimum, maximum: int or None. Inclusive bounds.

    Example:
    ```python
    require_integer(3, "num_steps", minimum=1)    # 3
    require_integer(2.5, "num_steps", minimum=1)  # ValueError
    ```
    """
    bounds = _bounds(minimum, maximum)
    if not is_integer(value):
        raise ValueError(
            f"`{name}` must be an integer{bounds}; received {value!r} "
            f"({type(value).__name__}). Pass a whole number (no silent truncation)."
        )
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"`{name}` must be an integer{bounds}; received {value}.")
    return value


def require_integer_list(values, name: str, minimum: int | None = None):
    """Returns `values` (a list or tuple of integers) as a list of `int`s.

    Args:
        values: the argument.
        name: str. Its name, for the message.
        minimum: int or None. Inclusive lower bound of every item.

    Example:
    ```python
    require_integer_list([1, 2], "target_layers", minimum=1)  # [1, 2]
    require_integer_list("12", "target_layers")               # ValueError
    ```
    """
    if not isinstance(values, (list, tuple)):
        raise ValueError(
            f"`{name}` must be a list of integers; received {values!r} "
            f"({type(values).__name__}). Example: {name}=[1, 2, 3]."
        )
    return [require_integer(v, f"{name}[{i}]", minimum=minimum) for i, v in enumerate(values)]


def _bounds(minimum, maximum):
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""
