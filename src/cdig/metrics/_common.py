"""What every metric needs: the model set up as :func:`cdig.explain` set it up, and the fitted domain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.attribution import Attribution
from ..core.errors import CdigTypeError, CdigValueError
from ..domains import Domain, resolve

#: Domains that need no fitting and no parameters: a loaded Attribution of these finds its domain by name.
_PARAMETER_FREE = ("time", "fourier", "dct", "magphase", "cepstrum")


@dataclass
class Setup:
    """The model on the batch (``prep``: backend, layout, target, chunking) and the attribution's domain."""

    prep: Any
    att: Attribution
    domain: Domain
    z: np.ndarray
    z0: np.ndarray
    index: np.ndarray      # (P,) flat coefficient -> flat reported value, per sample
    n_units: int

    def signals(self, z: np.ndarray) -> Any:
        """The model inputs (user layout, the model's framework) whose coefficients are ``z`` (N rows)."""
        be, xp = self.prep.be, self.prep.be.xp
        zb = be.asarray(np.ascontiguousarray(z))
        return self.prep.layout.from_canonical(self.domain.inverse(zb, xp), xp)

    def outputs(self, z: np.ndarray) -> np.ndarray:
        """The explained scalar of each sample at coefficients ``z``."""
        return self.prep.run.outputs(self.signals(z), what="perturbed coefficients")


def check_attribution(att: Any, name: str = "attribution") -> Attribution:
    if isinstance(att, dict) and all(isinstance(v, Attribution) for v in att.values()):
        raise CdigTypeError(
            f"{name} is the dict cdig.explain returned ({sorted(att)}); pass one domain's Attribution, "
            f"e.g. maps[{next(iter(att))!r}]"
        )
    if not isinstance(att, Attribution):
        raise CdigTypeError(f"{name} must be a cdig.Attribution (one domain of cdig.explain's result), "
                            f"got {type(att).__name__}")
    return att


def domain_of(att: Attribution, domain: Any) -> Domain:
    """The fitted domain that computed ``att``: ``domain`` when given, else the one ``att`` carries."""
    if domain is not None:
        d = resolve(domain)[0] if not isinstance(domain, (list, tuple)) else None
        if d is None:
            raise CdigTypeError("domain must be one Domain object or name, not a sequence")
        if d.name != att.domain:
            raise CdigValueError(f"domain {d.name!r} is not the attribution's domain {att.domain!r}")
        return d
    if att.domain_object is not None:
        return att.domain_object
    if att.domain in _PARAMETER_FREE:
        d = resolve(att.domain)[0]
        if d.describe() == att.settings.get("domain", d.describe()):
            return d
    raise CdigValueError(
        f"this {att.domain!r} Attribution carries no domain object (it was loaded from a file, or built by "
        "hand); pass domain=... : the fitted Domain object that computed it"
    )


def setup(model: Any, x: Any, att: Any, *, domain: Any, target: Any, time_axis: int | None,
          additional_forward_args: Any, internal_batch_size: int | None, backend: str | None,
          check_output: bool = True, need_scores: bool = True) -> Setup:
    """Prepare the model exactly as :func:`cdig.explain` did and check that ``x``/``target`` are those of ``att``."""
    from ..api import _prepare

    att = check_attribution(att)
    if need_scores and (att.settings.get("multiply_by_inputs") is False or np.iscomplexobj(att.values)):
        raise CdigValueError("this attribution holds path-integrated gradients (multiply_by_inputs=False), not "
                             "scores; rank coefficients by attributions: explain with multiply_by_inputs=True")
    if att.coefficients is None or att.baseline_coefficients is None:
        raise CdigValueError("the attribution has no coefficients (it was built by hand?); metrics need the "
                             "input's and the baseline's coefficients that cdig.explain records")
    if time_axis is None:
        time_axis = att.settings.get("time_axis")
    target = recorded_target(att, target)
    prep = _prepare(model, x, target=target, time_axis=time_axis, additional_forward_args=additional_forward_args,
                    internal_batch_size=internal_batch_size, backend=backend)
    if list(prep.xn.shape) != list(att.settings.get("input_shape", prep.xn.shape)):
        raise CdigValueError(f"x has shape {prep.xn.shape} but the attribution explains inputs of shape "
                             f"{tuple(att.settings['input_shape'])}")
    d = domain_of(att, domain)
    z, z0 = np.asarray(att.coefficients), np.asarray(att.baseline_coefficients)
    index = np.asarray(d.value_index(z.shape[1:])).reshape(-1)
    n_units = int(np.prod(att.values.shape[1:]))
    if index.size != int(np.prod(z.shape[1:])) or index.min(initial=0) < 0 or index.max(initial=-1) >= n_units:
        raise CdigValueError(f"{type(d).__name__}.value_index does not map the {z.shape[1:]} coefficients onto "
                             f"the {n_units} reported values; a domain whose reduce() merges coefficients "
                             "must say how in value_index()")
    s = Setup(prep, att, d, z, z0, index, n_units)
    if check_output:
        with prep.be.prepared():
            out = prep.run.outputs(prep.xb, check=True, what="input")
        tol = 1e-4 * (np.abs(att.output) + np.abs(att.baseline_output)) + 1e-5
        bad = np.nonzero(np.abs(out - att.output) > tol)[0]
        if bad.size:
            raise CdigValueError(
                f"the model's explained output at x differs from the one the attribution recorded for "
                f"sample(s) {bad[:10].tolist()} (e.g. {out[bad[0]]:.6g} vs {att.output[bad[0]]:.6g}): x, "
                "target and model must be those given to cdig.explain"
            )
    return s


def recorded_target(att: Attribution, target: Any) -> Any:
    """``target`` when given, else the index (or one index per sample) that ``att`` records."""
    if target is not None:
        return target
    t = att.target
    if isinstance(t, bool) or not isinstance(t, (int, list)):
        return None
    return t if isinstance(t, int) else [v if isinstance(v, int) else tuple(v) for v in t]


def check_fractions(fractions: Any) -> np.ndarray:
    f = np.asarray(fractions, dtype=np.float64)
    if f.ndim != 1 or f.size < 2 or not np.all(np.isfinite(f)):
        raise CdigValueError(f"fractions must be a 1-D sequence of at least two numbers in [0, 1], got {fractions!r}")
    if f.min() < 0 or f.max() > 1 or np.any(np.diff(f) <= 0):
        raise CdigValueError(f"fractions must increase strictly and lie in [0, 1], got {f.tolist()}")
    return f
