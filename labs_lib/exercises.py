"""Exercises: the checks a notebook's test cells run on a student's function.

Each check raises AssertionError with what was expected, what the function returned and a hint,
and names a known mistake (a flipped sign, a missing 1/N) when the answer matches one. The test
cells are graded the nbgrader way: a cell that runs without an error earns its points.
"""

import numpy as np


def check_close(call, got, expected, hint, mistakes=None, rtol=1e-5, atol=1e-8):
    """Assert that `got` (what `call` returned) equals `expected` to rtol/atol.

    call: the call as the student reads it, e.g. "l2_penalty(w, 0.1)"; mistakes: {name: value}
    of wrong answers worth naming ("the sign is flipped": -expected).
    """
    expected = np.asarray(expected, dtype=float)
    if got is None:
        raise AssertionError(f"{call} returned None: return the value. {hint}")
    try:
        got_array = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        raise AssertionError(
            f"{call} returned {type(got).__name__} {got!r}, not a number or array"
        ) from None
    if got_array.shape != expected.shape:
        raise AssertionError(
            f"{call}: expected shape {expected.shape}, got {got_array.shape}. {hint}"
        )
    if np.allclose(got_array, expected, rtol=rtol, atol=atol):
        return
    for name, value in (mistakes or {}).items():
        wrong = np.asarray(value, dtype=float)
        if np.allclose(got_array, wrong, rtol=rtol, atol=atol, equal_nan=True):
            raise AssertionError(
                f"{call}: {name}. Expected {show(expected)}, got {show(got_array)}."
            )
    raise AssertionError(f"{call}: expected {show(expected)}, got {show(got_array)}. {hint}")


def show(array):
    """An array or number, short enough for one line of a message."""
    array = np.asarray(array, dtype=float)
    if array.ndim == 0:
        return f"{float(array):.6g}"
    with np.printoptions(precision=4, threshold=8, edgeitems=2):
        return np.array2string(array, separator=", ").replace("\n", "")
