"""What every metric needs: the model set up as :func:`cdig.explain` set it up, and the fitted domain."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.attribution import Attribution, _jsonable
from ..core.errors import CdigTypeError, CdigValueError
from ..domains import Domain, rebuild, resolve


@dataclass
class Setup:
    """The model on the batch (``prep``: backend, layout, target, chunking) and the attribution's domain."""

    prep: Any
    att: Attribution
    domain: Domain
    z: np.ndarray
    z0: np.ndarray
    index: np.ndarray  # (P,) flat coefficient -> flat reported value, per sample
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
        raise CdigTypeError(f"{name} must be a cdig.Attribution (one domain of cdig.explain's result), got {type(att).__name__}")
    return att


def domain_of(att: Attribution, domain: Any, x: np.ndarray | None = None) -> Domain:
    """The fitted domain that computed ``att``.

    ``domain`` when it is a Domain object (used as given: the fitted object that computed the map);
    else (``domain`` None or the attribution's domain name) the snapshot ``att`` carries; else (an
    Attribution read from a file) the domain rebuilt from the recorded ``settings["domain"]``
    (:func:`cdig.domains.rebuild`) and, when the explained batch ``x`` (numpy, canonical
    ``(N, C, T)``) is given, fitted on it as :func:`cdig.explain` fitted it, then checked to describe
    itself as recorded. Without ``x`` it is returned unfitted (for callers that re-explain, which
    fits it).

    Raises
    ------
    CdigValueError
        When the domain cannot be rebuilt exactly from what was recorded: pass ``domain=``.
    """
    if domain is not None:
        if isinstance(domain, (list, tuple)):
            raise CdigTypeError("domain must be one Domain object or name, not a sequence")
        # a name only selects (e.g. "stft", which DOMAINS cannot make without parameters): rebuilt below
        name = domain if isinstance(domain, str) else resolve(domain)[0].name
        if name != att.domain:
            raise CdigValueError(f"domain {name!r} is not the attribution's domain {att.domain!r}")
        if not isinstance(domain, str):
            return domain
    if att.domain_object is not None:
        return att.domain_object
    recorded = att.settings.get("domain")
    try:
        d = rebuild(recorded)
        if d.name != att.domain:
            raise CdigValueError(f"the recorded domain is named {d.name!r}, the attribution {att.domain!r}")
        if x is not None:
            d.fit(x)
            if _normal(d.describe()) != _normal(recorded):
                raise CdigValueError(
                    f"fitted on x it describes itself as {_normal(d.describe())}, not as recorded ({_normal(recorded)})"
                )
    except CdigValueError as e:
        raise CdigValueError(
            f"this {att.domain!r} Attribution carries no domain object (it was loaded from a file, or built by "
            f"hand) and its domain cannot be rebuilt exactly from the recorded settings ({e}); pass domain=...: "
            "the fitted Domain object that computed it"
        ) from None
    return d


def _normal(description: Any) -> Any:
    """A description as it reads back from a file (JSON types), for comparisons."""
    return json.loads(json.dumps(_jsonable(description)))


def check_domain(d: Domain, att: Attribution, prep: Any) -> None:
    """``d`` maps the explained input to ``att``'s coefficients and the coefficients back to signals of
    the input's shape, or a CdigValueError says which fails (an unfitted or wrongly fitted domain)."""
    be, xp = prep.be, prep.be.xp
    z = np.asarray(att.coefficients)
    shape = tuple(prep.layout.canonical_shape(prep.xn.shape))
    with be.prepared():
        mine = be.to_numpy(d.forward(prep.layout.to_canonical(prep.xb, xp), xp))
        back = tuple(d.inverse(be.asarray(np.ascontiguousarray(z)), xp).shape)
    if mine.shape != z.shape:
        raise CdigValueError(
            f"the {type(d).__name__} domain gives coefficients of shape {mine.shape} for x, but the "
            f"attribution records {z.shape}: pass the fitted domain that computed it"
        )
    scale = np.abs(z).reshape(len(z), -1).max(axis=1)
    err = np.abs(mine - z).reshape(len(z), -1).max(axis=1)
    bad = np.nonzero(~(err <= 1e-5 * scale))[0]
    if bad.size:
        raise CdigValueError(
            f"the {type(d).__name__} domain does not give the attribution's coefficients at x (sample(s) "
            f"{bad[:10].tolist()}, largest difference {err[bad].max():.3g} of {scale[bad].max():.3g}): pass the "
            "fitted domain that computed it, and the x given to cdig.explain"
        )
    if back != shape:
        raise CdigValueError(
            f"the {type(d).__name__} domain maps the attribution's coefficients to signals of shape {back}, not "
            f"the input's {shape} (canonical (N, C, T)): it is not fitted to this input; pass the fitted domain "
            "that computed the attribution"
        )


def setup(
    model: Any,
    x: Any,
    att: Any,
    *,
    domain: Any,
    target: Any,
    time_axis: int | None,
    additional_forward_args: Any,
    internal_batch_size: int | None,
    backend: str | None,
    check_output: bool = True,
    need_scores: bool = True,
) -> Setup:
    """Prepare the model exactly as :func:`cdig.explain` did and check that ``x``/``target`` are those of ``att``."""
    from ..engine import prepare

    att = check_attribution(att)
    if need_scores and (att.settings.get("multiply_by_inputs") is False or np.iscomplexobj(att.values)):
        raise CdigValueError(
            "this attribution holds path-integrated gradients (multiply_by_inputs=False), not "
            "scores; rank coefficients by attributions: explain with multiply_by_inputs=True"
        )
    if att.coefficients is None or att.baseline_coefficients is None:
        raise CdigValueError(
            "the attribution has no coefficients (it was built by hand?); metrics need the "
            "input's and the baseline's coefficients that cdig.explain records"
        )
    if time_axis is None:
        time_axis = att.settings.get("time_axis")
    target = recorded_target(att, target)
    output = att.settings.get("output")
    if isinstance(output, str) and output.startswith("<callable"):
        raise CdigValueError(
            f"the attribution explains the tensor a function selected from the model's output (output={output}); "
            "metrics cannot call that function again: pass a model returning that tensor, e.g. "
            "lambda x: select(model(x))"
        )
    prep = prepare(
        model,
        x,
        target=target,
        time_axis=time_axis,
        additional_forward_args=additional_forward_args,
        internal_batch_size=internal_batch_size,
        backend=backend,
        output=output,
    )
    if list(prep.xn.shape) != list(att.settings.get("input_shape", prep.xn.shape)):
        raise CdigValueError(
            f"x has shape {prep.xn.shape} but the attribution explains inputs of shape {tuple(att.settings['input_shape'])}"
        )
    check_output_at_x(prep, att, check_output)
    d = domain_of(att, domain, prep.layout.to_canonical_np(prep.xn))
    check_domain(d, att, prep)
    z, z0 = np.asarray(att.coefficients), np.asarray(att.baseline_coefficients)
    index = np.asarray(d.value_index(z.shape[1:])).reshape(-1)
    groups = att.extras.get("groups") if tuple(att.dims) == ("group",) else None
    if groups is not None:  # a perturbation method's groups (groups=): each coefficient's value, then its group
        labels = np.asarray(groups).reshape(-1)
        if index.size and index.max() >= labels.size:
            raise CdigValueError(
                f"the attribution's groups label {labels.size} values but the {type(d).__name__} domain reports "
                f"{index.max() + 1}: pass the fitted domain that computed it"
            )
        index = labels[index]
    n_units = int(np.prod(att.values.shape[1:]))
    if index.size != int(np.prod(z.shape[1:])) or index.min(initial=0) < 0 or index.max(initial=-1) >= n_units:
        raise CdigValueError(
            f"{type(d).__name__}.value_index does not map the {z.shape[1:]} coefficients onto "
            f"the {n_units} reported values; a domain whose reduce() merges coefficients "
            "must say how in value_index()"
        )
    return Setup(prep, att, d, z, z0, index, n_units)


def check_output_at_x(prep: Any, att: Attribution, check: bool = True) -> None:
    """The model's explained output at ``x`` is the one ``att`` recorded (else x, target or model differ)."""
    if not check:
        return
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
