"""The validator family in cdig.core.checks: what each accepts, and the error (class, message) for what it refuses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cdig import CdigTypeError, CdigValueError
from cdig.core.checks import check_bool, check_choice, check_int, check_positive_int, check_real

# check_int


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_int_accepts_python_and_numpy_ints(value):
    out = check_int(value, "n", min=1)
    assert out == 3 and type(out) is int


def test_int_bounds_are_inclusive_and_none_is_unbounded():
    assert check_int(1, "n", min=1, max=1) == 1
    assert check_int(-(10**20), "n") == -(10**20)


def test_int_none_only_when_allowed():
    assert check_int(None, "n", allow_none=True) is None
    with pytest.raises(CdigTypeError, match=r"n must be an int >= 1, got None"):
        check_int(None, "n", min=1)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 3.0, np.float64(3.0), "3", [3], np.array(3)])
def test_int_refuses_other_types(value):
    with pytest.raises(CdigTypeError, match=r"^n_fft must be an int >= 1 or None, got "):
        check_int(value, "n_fft", min=1, allow_none=True)


@pytest.mark.parametrize(
    "value, match",
    [
        (0, r"^n_fft=0 is too small: it must be >= 1$"),
        (np.int64(-2), r"^n_fft=-2 is too small: it must be >= 1$"),
    ],
)
def test_int_below_min(value, match):
    with pytest.raises(CdigValueError, match=match):
        check_int(value, "n_fft", min=1)


def test_int_outside_a_range_names_the_range():
    with pytest.raises(CdigValueError, match=r"^order=0 is too small: it must be in \[1, 10\]$"):
        check_int(0, "order", min=1, max=10)
    with pytest.raises(CdigValueError, match=r"^order=11 is too large: it must be in \[1, 10\]$"):
        check_int(11, "order", min=1, max=10)
    with pytest.raises(CdigValueError, match=r"^order=11 is too large: it must be <= 10$"):
        check_int(11, "order", max=10)


def test_positive_int_is_check_int_with_a_minimum():
    assert check_positive_int(np.int16(15), "max_steps", minimum=15) == 15
    assert check_positive_int(None, "ibs", allow_none=True) is None
    with pytest.raises(CdigValueError, match=r"max_steps=3 is too small: it must be >= 15"):
        check_positive_int(3, "max_steps", minimum=15)
    with pytest.raises(CdigTypeError, match=r"ibs must be an int >= 1 or None, got True"):
        check_positive_int(True, "ibs", allow_none=True)


# check_real


@pytest.mark.parametrize("value", [2, 2.0, np.int8(2), np.float32(2.0), np.float64(2.0)])
def test_real_accepts_ints_and_floats(value):
    out = check_real(value, "fs", min=0, include_min=False)
    assert out == 2.0 and type(out) is float


def test_real_none_only_when_allowed():
    assert check_real(None, "fs", allow_none=True) is None
    with pytest.raises(CdigTypeError, match=r"^fs must be a finite real number, got None$"):
        check_real(None, "fs")


@pytest.mark.parametrize("value", [True, np.bool_(False), "1.0", 1 + 0j, np.complex64(1), [1.0], np.ones(1)])
def test_real_refuses_other_types(value):
    with pytest.raises(CdigTypeError, match=r"^eps must be a finite real number > 0 or None, got "):
        check_real(value, "eps", min=0, include_min=False, allow_none=True)


@pytest.mark.parametrize("value", [math.nan, np.float32("nan"), math.inf, -np.inf])
def test_real_refuses_nan_and_inf_when_finite(value):
    with pytest.raises(CdigValueError, match=r"^eps=(nan|inf|-inf): it must be a finite number > 0$"):
        check_real(value, "eps", min=0, include_min=False)


def test_real_int_beyond_the_float_range_is_infinite():
    assert check_real(10**400, "limit", finite=False) == math.inf
    with pytest.raises(CdigValueError, match=r"^limit=inf: it must be a finite number$"):
        check_real(10**400, "limit")


def test_real_infinite_allowed_when_not_finite_but_never_nan():
    assert check_real(math.inf, "limit", finite=False) == math.inf
    assert check_real(-math.inf, "limit", finite=False) == -math.inf
    with pytest.raises(CdigValueError, match=r"^limit=nan: it must be a number$"):
        check_real(math.nan, "limit", finite=False)


def test_real_open_and_closed_ends():
    assert check_real(0, "zero_tol", min=0, max=1, include_max=False) == 0.0
    assert check_real(1, "threshold", min=0, max=1, include_min=False) == 1.0
    with pytest.raises(CdigValueError, match=r"^zero_tol=1\.0 is too large: it must be in \[0, 1\)$"):
        check_real(1, "zero_tol", min=0, max=1, include_max=False)
    with pytest.raises(CdigValueError, match=r"^threshold=0\.0 is too small: it must be in \(0, 1\]$"):
        check_real(0.0, "threshold", min=0, max=1, include_min=False)
    with pytest.raises(CdigValueError, match=r"^rtol=-0\.5 is too small: it must be >= 0$"):
        check_real(-0.5, "rtol", min=0)
    with pytest.raises(CdigValueError, match=r"^scale=2\.5 is too large: it must be < 2$"):
        check_real(2.5, "scale", max=2, include_max=False)


# check_choice


def test_choice_returns_the_choice():
    assert check_choice("reflect", "edges", ("reflect", "shrink")) == "reflect"
    assert check_choice(np.str_("shrink"), "edges", ["reflect", "shrink"]) == "shrink"
    assert check_choice(np.int64(3), "type", (2, 3)) == 3


@pytest.mark.parametrize("value", ["wrap", "Reflect", None, 3, ["reflect"], np.array(["reflect", "shrink"])])
def test_choice_refuses_others(value):
    with pytest.raises(CdigValueError, match=r"^edges=.* is not accepted: it must be 'reflect' or 'shrink'$"):
        check_choice(value, "edges", ("reflect", "shrink"))


def test_choice_bool_does_not_stand_for_an_int():
    with pytest.raises(CdigValueError, match=r"^type=True is not accepted: it must be 2 or 1$"):
        check_choice(True, "type", (2, 1))
    assert check_choice(False, "flag", (False, "auto")) is False


def test_choice_lists_every_accepted_value():
    with pytest.raises(CdigValueError, match=r"^tail='x' is not accepted: it must be 'end', 'pad' or 'drop'$"):
        check_choice("x", "tail", ("end", "pad", "drop"))
    with pytest.raises(CdigValueError, match=r"^mode='zero' is not accepted: it must be 'periodization'$"):
        check_choice("zero", "mode", ("periodization",))


# check_bool


@pytest.mark.parametrize("value", [True, False, np.bool_(True), np.bool_(False)])
def test_bool_accepts_python_and_numpy_bools(value):
    out = check_bool(value, "center")
    assert out == bool(value) and type(out) is bool


@pytest.mark.parametrize("value", [0, 1, np.int64(1), 1.0, "True", None])
def test_bool_refuses_other_types(value):
    with pytest.raises(CdigTypeError, match=r"^center must be True or False, got "):
        check_bool(value, "center")


# the family is cdig's exception family


def test_errors_are_cdig_value_and_type_errors():
    with pytest.raises(ValueError):
        check_int(0, "n", min=1)
    with pytest.raises(TypeError):
        check_real("x", "fs")
