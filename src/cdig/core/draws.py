"""Integrated gradients averaged over a distribution: reference samples (expected gradients) and noise (SmoothGrad).

One baseline makes one explanation: a map says how the output moved from *that* signal to the input. Two
families average over many instead, and both work in every domain, because each draw is an ordinary path
from a baseline to an input, which the engine explains in the domain like any other:

* **reference samples** (:class:`References`; Erion et al.'s *expected gradients*, Captum's
  ``GradientShap`` without noise): baselines drawn from a set of signals, e.g. training samples.

  - ``draw="paths"`` integrates the full path from each of ``K`` drawn baselines and averages the ``K``
    maps. **Completeness**: the map sums to ``f(x) − mean_k f(x'_k)``, the output's change from the
    references' mean *output* (not from the output at the mean reference), exactly up to each path's
    integration error. ``delta`` is that sum minus the change; the spread over draws gives a standard error.
  - ``draw="points"`` is expected gradients proper: each of ``M`` draws takes a random baseline *and* a
    random point ``α ~ U(0, 1)`` on its path, one gradient each, ``A = mean_m (z − z'_m) ⊙ ∇g(z'_m + α_m
    (z − z'_m))``. An unbiased estimate of the ``"paths"`` map over the whole reference set, at one
    gradient per draw. **Completeness** holds in expectation only: ``delta`` is the sampling residual,
    and ``extras["standard_error"]`` the per-value standard error.

* **noise** (``stdevs=σ``; SmoothGrad applied to IG, Captum's ``NoiseTunnel(nt_type="smoothgrad")``): the
  map of each of ``M`` noisy inputs ``x + σ·ε`` (``ε`` standard normal in the time domain, so the same
  noise in every domain), averaged. **Completeness**: the map sums to ``mean_m f(x + σ ε_m) − f(x0)``:
  the reported ``output`` is that mean. Combined with references, each draw has its own noise and its own
  baseline (Captum's ``GradientShap`` with ``draw="points"``).

The draws are ordinary rows of one batched explanation (``N·M`` paths: the linear domains still share one
pass). A domain fitted on the data (ICA, a per-sample cepstrum) is fitted on ``x`` once and every draw of
a sample uses that fit, so maps of different draws refer to the same components and can be averaged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .attribution import Attribution
from .checks import check_choice, check_int, check_positive_int
from .errors import CdigTypeError, CdigValueError

__all__ = ["References", "Draws", "plan_draws", "combine", "DEFAULT_DRAWS", "DRAWS"]

#: Draws per sample when ``n_samples`` is None (all references for ``draw="paths"`` when there are no more).
DEFAULT_DRAWS = 32
#: How :class:`References` are drawn.
DRAWS = ("paths", "points")


@dataclass(frozen=True)
class References:
    """A set of reference signals to draw baselines from (expected gradients), for ``baselines=``.

    Parameters
    ----------
    samples : array or tensor
        ``(R, ...)``: ``R`` signals shaped like one sample of ``x`` (the same layout), e.g. training data.
    draw : {"paths", "points"}
        ``"paths"`` (default): integrate the whole path from each drawn reference and average the maps;
        completeness against the references' mean output holds to the integration's accuracy.
        ``"points"``: expected gradients proper, one random reference and one random point of its path
        per draw (one gradient each); completeness holds in expectation, ``extras["standard_error"]``
        says how well. ``n_steps`` is not used.

    Notes
    -----
    ``n_samples`` of :func:`cdig.explain` is the number of draws per explained sample. None: every
    reference, in order, for ``"paths"`` when there are at most :data:`DEFAULT_DRAWS` of them (no
    randomness: the exact average over the set), else :data:`DEFAULT_DRAWS` draws. ``"paths"`` draws
    without replacement (at most ``R``); ``"points"`` with replacement.

    Examples
    --------
    >>> import numpy as np, torch, cdig
    >>> w = torch.linspace(-1, 1, 16)
    >>> model = lambda x: (x * w).sum(dim=(1, 2))            # linear: IG is w ⊙ (x − x')
    >>> x, refs = torch.ones(1, 1, 16), torch.randn(5, 1, 16)
    >>> maps = cdig.explain(model, x, "time", baselines=cdig.References(refs), n_steps=2)
    >>> expected = (w * (x - refs.mean(0))).numpy()           # the mean over all 5 references
    >>> bool(np.allclose(maps["time"].values, expected, atol=1e-5))
    True
    """

    samples: Any
    draw: str = "paths"

    def __post_init__(self) -> None:
        check_choice(self.draw, "draw", DRAWS)


@dataclass
class Draws:
    """The rows of a distribution's explanation: ``m`` draws per sample, ``rows[i]`` the sample of row ``i``."""

    rows: np.ndarray
    m: int
    x: np.ndarray
    x0: np.ndarray
    #: the path point of each row (``draw="points"``), else None (the whole path)
    alphas: np.ndarray | None
    settings: dict[str, Any] = field(default_factory=dict)


def check_stdevs(stdevs: Any) -> float:
    """``stdevs``: a finite number >= 0 (the noise's standard deviation, in the input's units)."""
    if isinstance(stdevs, bool) or not isinstance(stdevs, (int, float, np.integer, np.floating)):
        raise CdigTypeError(f"stdevs must be a number >= 0 (the noise's standard deviation), got {type(stdevs).__name__}")
    s = float(stdevs)
    if not (np.isfinite(s) and s >= 0):
        raise CdigValueError(f"stdevs={stdevs!r}: the noise's standard deviation must be a finite number >= 0")
    return s


def plan_draws(
    baselines: Any,
    stdevs: float,
    n_samples: int | None,
    seed: int,
    xn: np.ndarray,
    x0n: np.ndarray | None,
    references: np.ndarray | None,
) -> Draws:
    """The rows to explain: ``m`` per sample of ``xn``, each with its (noisy) input and its baseline.

    ``x0n`` is the one baseline (``(N, ...)``, when ``baselines`` is not :class:`References`);
    ``references`` the reference set ``(R, ...)`` as numpy (when it is)."""
    n_samples = check_positive_int(n_samples, "n_samples", allow_none=True)
    seed = int(check_int(seed, "seed", min=0))
    rng = np.random.default_rng(seed)
    n = xn.shape[0]
    settings: dict[str, Any] = {"n_samples": n_samples, "seed": seed, "stdevs": stdevs}
    alphas = None
    if isinstance(baselines, References):
        assert references is not None
        r = references.shape[0]
        settings.update(baselines="references", draw=baselines.draw, n_references=r)
        if baselines.draw == "paths":
            if n_samples is None and r <= DEFAULT_DRAWS:
                m = r
                pick = np.tile(np.arange(r), (n, 1))  # every reference, in order: no randomness
                settings["drawn"] = "all references"
            else:
                m = DEFAULT_DRAWS if n_samples is None else n_samples
                if m > r:
                    raise CdigValueError(
                        f"n_samples={m}: draw='paths' draws references without replacement and there are {r}; "
                        f"pass n_samples <= {r} (or None: all of them when there are at most {DEFAULT_DRAWS})"
                    )
                pick = np.stack([rng.permutation(r)[:m] for _ in range(n)])
                settings["drawn"] = f"{m} of {r} references per sample, without replacement"
        else:
            m = DEFAULT_DRAWS if n_samples is None else n_samples
            pick = rng.integers(0, r, size=(n, m))
            alphas = rng.random(n * m)
            settings["drawn"] = f"{m} (reference, path point) pairs per sample, with replacement"
        x0 = references[pick.reshape(-1)]
    else:
        assert x0n is not None
        m = DEFAULT_DRAWS if n_samples is None else n_samples
        settings.update(baselines="one")
        x0 = np.repeat(x0n, m, axis=0)
    settings["draws_per_sample"] = m
    rows = np.repeat(np.arange(n), m)
    x = xn[rows]
    if stdevs > 0:
        x = x + (stdevs * rng.standard_normal(x.shape)).astype(x.dtype)
    return Draws(rows, m, np.ascontiguousarray(x), np.ascontiguousarray(x0.astype(xn.dtype)), alphas, settings)


def check_references(samples: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    """The reference set: numeric, finite, ``(R, *x.shape[1:])`` with ``R >= 1``."""
    if samples.dtype.kind not in "biuf":
        raise CdigTypeError(f"References(samples) must be real numbers, got dtype {samples.dtype}")
    if samples.ndim != len(x_shape) or tuple(samples.shape[1:]) != tuple(x_shape[1:]) or samples.shape[0] < 1:
        raise CdigValueError(
            f"References(samples) has shape {samples.shape}; it must hold R >= 1 signals shaped like one sample of x, "
            f"(R, {', '.join(map(str, x_shape[1:]))}) in x's layout"
        )
    if not np.all(np.isfinite(samples)):
        raise CdigValueError("References(samples) contains NaN/Inf values; all values must be finite")
    return samples


def combine(att: Attribution, draws: Draws, coefficients: np.ndarray) -> Attribution:
    """The per-sample mean of an explanation of ``draws``' rows: values, outputs and ``delta`` averaged,
    steps summed, ``extras["standard_error"]`` the spread of the draws' maps (with two or more draws).

    ``coefficients`` are those of the explained samples themselves (without noise); the baseline
    coefficients are the draws' mean."""
    m = draws.m
    n = len(draws.rows) // m

    def mean(a: np.ndarray) -> np.ndarray:
        return a.reshape((n, m, *a.shape[1:])).mean(axis=1)

    per_draw = att.values.reshape((n, m, *att.values.shape[1:]))
    values = per_draw.mean(axis=1)
    extras = {k: mean(v) if isinstance(v, np.ndarray) and v.ndim and v.shape[0] == n * m else v for k, v in att.extras.items()}
    if m >= 2:
        extras["standard_error"] = per_draw.std(axis=1, ddof=1) / np.sqrt(m)
    error = None
    if att.error_estimate is not None:
        absolute = mean(np.asarray(att.error_estimate["absolute"]))  # a bound on the mean's error
        norm = np.sqrt(np.sum(np.abs(values.reshape(n, -1)) ** 2, axis=1))
        error = {"absolute": absolute, "relative": np.where(norm > 0, absolute / np.where(norm > 0, norm, 1.0), np.inf)}
    settings = {**att.settings, "distribution": dict(draws.settings)}
    if draws.alphas is not None:
        settings.update(method="expected_gradients", n_steps=None)
    return replace(
        att,
        values=values,
        delta=mean(att.delta),
        output=mean(att.output),
        baseline_output=mean(att.baseline_output),
        n_steps=att.n_steps.reshape(n, m).sum(axis=1),
        coefficients=coefficients,
        baseline_coefficients=None if att.baseline_coefficients is None else mean(att.baseline_coefficients),
        extras=extras,
        error_estimate=error,
        settings=settings,
    )
