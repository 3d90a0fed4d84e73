"""Sanity checks in any domain: completeness, sensitivity to input noise, model randomisation.

* :func:`completeness` — the per-sample completeness error of each map, absolute and relative,
  against a tolerance: the honest meter of how well the path integral was computed.
* :func:`sensitivity` — max-sensitivity (Yeh et al., 2019): the largest relative change of the map
  when the input moves by small uniform noise; explanations that jump under imperceptible noise
  are fragile.
* :func:`randomization` — the model-parameter randomisation test (Adebayo et al., 2018): maps of
  a model with re-initialised weights must differ from the trained model's; a map that survives
  randomisation explains the input, not the model.

Each re-explains in the attribution's own domain, with the settings it recorded (rule, steps,
baseline coefficients) and the same fitted domain (an ICA is not refitted on noisy inputs).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.attribution import Attribution
from ..core.checks import check_positive_int
from ..core.errors import CdigTypeError, CdigValueError
from ..core.path import roundoff_floor
from ._common import check_attribution, domain_of, recorded_target, setup

__all__ = ["completeness", "sensitivity", "randomization", "Randomization", "spearman"]


def completeness(maps: Any, rtol: float = 1e-2) -> list[dict[str, Any]]:
    """One row per domain: the completeness error ``delta = Σ A − (f(x) − f(x0))`` and whether it is small.

    Parameters
    ----------
    maps : Attribution or dict of str to Attribution
        What :func:`cdig.explain` returned (or one of its values).
    rtol : float
        A sample passes when ``|delta| <= rtol · |f(x) − f(x0)|``, or ``delta`` is round-off: below
        ``64·eps·max(|f(x) − f(x0)|, Σ|A|)`` with the machine epsilon of the precision the model
        computed in (``settings["dtype"]``; float32's for files that do not record it). The floor is
        relative to the change and the map, never to the outputs themselves: a constant offset in
        the model's output changes nothing.

    Returns
    -------
    list of dict
        Keys ``domain``, ``max_abs_delta``, ``median_abs_delta``, ``max_relative_delta``,
        ``passed`` (samples within ``rtol``), ``samples``, ``mean_steps``, and
        ``max_relative_map_error``: the largest estimated relative error of the map itself
        (:attr:`cdig.Attribution.error_estimate`, ``n_steps="auto"`` only; NaN for fixed rules).

    Examples
    --------
    >>> import torch, cdig
    >>> from cdig.metrics import completeness
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1), torch.nn.Tanh())
    >>> rows = completeness(cdig.explain(model, torch.randn(3, 1, 16), ("time", "fourier"), n_steps=16))
    >>> [(r["domain"], r["passed"], r["samples"]) for r in rows]
    [('time', 3, 3), ('fourier', 3, 3)]
    """
    if isinstance(maps, Attribution):
        maps = {maps.domain: maps}
    if not isinstance(maps, Mapping) or not all(isinstance(v, Attribution) for v in maps.values()):
        raise CdigTypeError("maps must be an Attribution or the dict of them that cdig.explain returned")
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0 <= rtol < np.inf:
        raise CdigValueError(f"rtol must be a non-negative number, got {rtol!r}")
    rows = []
    for name, att in maps.items():
        d = np.abs(np.asarray(att.delta, dtype=np.float64))
        change = np.abs(att.output - att.baseline_output)
        eps = float(np.finfo(np.dtype(att.settings.get("dtype") or "float32")).eps)
        multiplied = att.settings.get("multiply_by_inputs", True)
        l1 = np.abs(att.values).reshape(len(d), -1).sum(axis=1) if multiplied else np.zeros_like(d)
        floor = roundoff_floor(change, l1, eps)
        est = att.error_estimate["relative"] if att.error_estimate else np.array([np.nan])
        rows.append(
            {
                "domain": name,
                "max_abs_delta": float(d.max()),
                "median_abs_delta": float(np.median(d)),
                "max_relative_delta": float(att.relative_delta.max()),
                "passed": int(np.sum(d <= rtol * change + floor)),
                "samples": int(d.size),
                "mean_steps": float(np.mean(att.n_steps)),
                "max_relative_map_error": float(np.max(est)),
            }
        )
    return rows


def _reexplain(
    model: Any,
    x: Any,
    att: Attribution,
    domain: Any,
    target: Any,
    time_axis: Any,
    additional_forward_args: Any,
    internal_batch_size: Any,
    backend: Any,
) -> Attribution:
    """``cdig.explain`` again, in ``att``'s domain (the same fitted object) with ``att``'s settings."""
    from ..api import explain

    st = att.settings
    d = copy.copy(domain_of(att, domain))
    n_steps = st.get("n_steps", 50)
    kwargs = (
        dict(method=st.get("method", "gausslegendre"))
        if n_steps != "auto"
        else dict(rtol=st.get("rtol") or 1e-3, max_steps=st.get("max_steps") or 4096)
    )
    return explain(
        model,
        x,
        [d],
        target=target,
        baselines={d.name: att.baseline_coefficients},
        n_steps=n_steps,
        time_axis=time_axis if time_axis is not None else st.get("time_axis"),
        fs=st.get("fs"),
        additional_forward_args=additional_forward_args,
        internal_batch_size=internal_batch_size,
        multiply_by_inputs=st.get("multiply_by_inputs", True),
        backend=backend,
        **kwargs,
    )[d.name]


def sensitivity(
    model: Any,
    x: Any,
    attribution: Any,
    *,
    radius: float = 0.02,
    n_perturb: int = 8,
    seed: int = 0,
    target: Any = None,
    domain: Any = None,
    time_axis: int | None = None,
    additional_forward_args: Any = None,
    internal_batch_size: int | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """Max-sensitivity per sample: ``max_ε ‖A(x + ε) − A(x)‖ / ‖A(x)‖`` over ``n_perturb`` draws.

    ``ε`` is uniform in ``[−r, r]`` per input value with ``r = radius ·`` the sample's standard
    deviation, so ``radius`` is relative to the signal. The maps are compared in the
    attribution's domain (e.g. Fourier bins), with the same fitted domain and settings.

    Returns
    -------
    ndarray, shape (N,)
        0 for a map that does not move; around ``radius`` for a smooth (e.g. linear) model.

    Examples
    --------
    >>> import torch, cdig
    >>> from cdig.metrics import sensitivity
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 1))
    >>> x = torch.randn(4, 1, 32)
    >>> s = sensitivity(model, x, cdig.explain(model, x, "fourier")["fourier"], n_perturb=3)
    >>> s.shape, bool((s < 0.1).all())   # linear: A = w·(x - x0) moves by at most ~radius
    ((4,), True)
    """
    att = check_attribution(attribution)
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not 0 < radius < np.inf:
        raise CdigValueError(f"radius must be a positive number (relative to each sample's std), got {radius!r}")
    n_perturb = check_positive_int(n_perturb, "n_perturb")
    s = setup(
        model,
        x,
        att,
        domain=domain,
        target=target,
        time_axis=time_axis,
        additional_forward_args=additional_forward_args,
        internal_batch_size=internal_batch_size,
        backend=backend,
        need_scores=False,
    )
    be, xn = s.prep.be, s.prep.xn
    ref = np.asarray(att.values, dtype=np.float64).reshape(len(xn), -1)
    norm = np.maximum(np.linalg.norm(ref, axis=1), 1e-30)
    scale = xn.reshape(len(xn), -1).std(axis=1).reshape((-1,) + (1,) * (xn.ndim - 1)) * radius
    rng = np.random.default_rng(int(seed))
    worst = np.zeros(len(xn))
    for _ in range(n_perturb):
        noisy = (xn + rng.uniform(-1.0, 1.0, xn.shape) * scale).astype(xn.dtype)
        a = _reexplain(
            model,
            be.asarray(noisy),
            att,
            domain,
            recorded_target(att, target),
            time_axis,
            additional_forward_args,
            internal_batch_size,
            backend,
        )
        diff = np.linalg.norm(np.asarray(a.values, dtype=np.float64).reshape(len(xn), -1) - ref, axis=1)
        worst = np.maximum(worst, diff / norm)
    return worst


@dataclass(frozen=True)
class Randomization:
    """The model-parameter randomisation test of one batch in one domain.

    Attributes
    ----------
    spearman : ndarray, shape (N,)
        Rank correlation of ``|A|`` of the trained and of the randomised model, per sample.
    spearman_signed : ndarray, shape (N,)
        The same for the signed maps.
    threshold : float
        A sample passes when ``|spearman| < threshold``.
    randomized : Attribution
        The randomised model's map.
    """

    spearman: np.ndarray
    spearman_signed: np.ndarray
    threshold: float
    randomized: Attribution

    @property
    def passed(self) -> np.ndarray:
        """Per sample: the map changed (rank correlation of magnitudes below the threshold)."""
        return np.abs(self.spearman) < self.threshold


def randomization(
    model: Any,
    x: Any,
    attribution: Any,
    *,
    randomized_model: Any = None,
    seed: int = 0,
    threshold: float = 0.5,
    target: Any = None,
    domain: Any = None,
    time_axis: int | None = None,
    additional_forward_args: Any = None,
    internal_batch_size: int | None = None,
    backend: str | None = None,
) -> Randomization:
    """The model-parameter randomisation sanity check, in the attribution's domain.

    The model is copied and its weights re-initialised (PyTorch: each layer's ``reset_parameters``,
    other parameters Gaussian with the original's spread; Keras: every weight Gaussian with the
    original's spread) under ``seed``; **the given model is never changed**. For JAX functions, or
    any model cdig cannot copy, pass ``randomized_model``.

    Returns
    -------
    Randomization

    Examples
    --------
    >>> import torch, cdig
    >>> from cdig.metrics import randomization
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(1, 8, 5, padding=2), torch.nn.Tanh(), torch.nn.Flatten(),
    ...                             torch.nn.Linear(8 * 32, 2))
    >>> x = torch.randn(4, 1, 32)
    >>> before = [p.detach().clone() for p in model.parameters()]
    >>> r = randomization(model, x, cdig.explain(model, x, "fourier", target=0)["fourier"])
    >>> r.spearman.shape, all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    ((4,), True)
    """
    att = check_attribution(attribution)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise CdigValueError(f"threshold must be in (0, 1], got {threshold!r}")
    s = setup(
        model,
        x,
        att,
        domain=domain,
        target=target,
        time_axis=time_axis,
        additional_forward_args=additional_forward_args,
        internal_batch_size=internal_batch_size,
        backend=backend,
    )
    if randomized_model is None:
        randomized_model = s.prep.be.randomized_copy(model, int(seed))
    elif randomized_model is model:
        raise CdigValueError("randomized_model is the model itself; pass a copy with re-initialised weights")
    rand = _reexplain(
        randomized_model,
        s.prep.xb,
        att,
        domain,
        recorded_target(att, target),
        time_axis,
        additional_forward_args,
        internal_batch_size,
        backend,
    )
    a = np.asarray(att.values, dtype=np.float64).reshape(len(s.z), -1)
    b = np.asarray(rand.values, dtype=np.float64).reshape(len(s.z), -1)
    return Randomization(spearman(np.abs(a), np.abs(b)), spearman(a, b), float(threshold), rand)


def spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each row of ``a`` with the same row of ``b`` (average ranks for ties).

    Examples
    --------
    >>> spearman(np.array([[1.0, 2, 3], [1, 2, 3]]), np.array([[10.0, 20, 30], [3, 2, 1]])).tolist()
    [1.0, -1.0]
    """
    from scipy.stats import rankdata

    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(axis=1) / np.where(den > 0, den, 1), 0.0)
