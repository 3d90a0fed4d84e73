"""Deletion and insertion curves in any domain.

A faithful map ranks first the coefficients the model's output depends on most. Deletion replaces
the top-ranked coefficients of the input by the baseline's (``z_k ← z0_k``), a growing fraction at a
time, maps the result back to a signal through the domain's inverse and records the explained
output; it should fall fast. Insertion starts from the baseline and puts the top-ranked
coefficients of the input back; the output should rise fast. The same curves for random orders are
the reference: a map is informative when its deletion AUC is below, and its insertion AUC above,
the random one.

"Coefficient" means the unit the map reports: a frequency bin of one channel (Fourier), a band
(``FrequencyBands``: all its bins together), an independent component (ICA: its whole time
course), a wavelet coefficient, an STFT cell... A complex coefficient is replaced whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.checks import check_choice, check_positive_int
from ..core.errors import CdigValueError
from ._common import Setup, check_fractions, setup

__all__ = ["Curves", "deletion", "insertion", "DEFAULT_FRACTIONS"]

#: Fractions of the reported coefficients removed or inserted: 0, 0.05, ..., 1.
DEFAULT_FRACTIONS: np.ndarray = np.linspace(0.0, 1.0, 21)


@dataclass(frozen=True)
class Curves:
    """Deletion or insertion curves of a batch, with the random-order reference.

    Attributes
    ----------
    kind : {"deletion", "insertion"}
    domain : str
    fractions : ndarray, shape (F,)
        Fractions of the ``n_units`` reported coefficients removed (deletion) or inserted (insertion).
    curve : ndarray, shape (N, F)
        The explained model output per sample at each fraction, ordered by the attribution.
    auc : ndarray, shape (N,)
        The curve's mean over the fractions (trapezoidal rule, divided by the fractions' span): in
        the model output's units.
    random_curve, random_auc : ndarray, shapes (N, F) and (N,)
        The same for random orders, averaged over ``n_random`` orders.
    n_units : int
        Reported coefficients per sample.
    order : {"signed", "absolute"}
        How the attribution ranked the coefficients.
    """

    kind: str
    domain: str
    fractions: np.ndarray
    curve: np.ndarray
    auc: np.ndarray
    random_curve: np.ndarray
    random_auc: np.ndarray
    n_units: int
    order: str

    @property
    def gain(self) -> np.ndarray:
        """How much better than random, per sample, in output units: positive when the map is informative
        (``random_auc - auc`` for deletion, ``auc - random_auc`` for insertion)."""
        return self.random_auc - self.auc if self.kind == "deletion" else self.auc - self.random_auc

    def __repr__(self) -> str:
        return (
            f"Curves({self.kind}, domain={self.domain!r}, {len(self.curve)} samples × {len(self.fractions)} "
            f"fractions, mean AUC {float(self.auc.mean()):.4g} vs random {float(self.random_auc.mean()):.4g})"
        )


def deletion(
    model: Any,
    x: Any,
    attribution: Any,
    *,
    target: Any = None,
    fractions: Any = None,
    order: str = "signed",
    n_random: int = 1,
    seed: int = 0,
    domain: Any = None,
    time_axis: int | None = None,
    additional_forward_args: Any = None,
    internal_batch_size: int | None = None,
    backend: str | None = None,
) -> Curves:
    """Deletion curves: replace the top-ranked coefficients by the baseline's, in the attribution's domain.

    Parameters
    ----------
    model, x : as given to :func:`cdig.explain`
    attribution : Attribution
        One domain of what :func:`cdig.explain` returned for ``model`` and ``x``.
    target : optional
        The explained output, as given to :func:`cdig.explain`; default: the one the attribution
        records (an index or one index per sample). The output at ``x`` is checked against the
        attribution's, so a wrong ``x``, ``target`` or model is an error, not a silent curve.
    fractions : sequence of float, optional
        Increasing fractions in ``[0, 1]`` of the reported coefficients to remove (rounded to whole
        coefficients); default 0, 0.05, ..., 1.
    order : {"signed", "absolute"}
        Rank by attribution value, largest first (evidence for the target first; the default), or
        by its magnitude.
    n_random : int
        Random orders averaged for the reference curve (each sample its own permutations).
    seed : int
        Seed of the random orders.
    domain : Domain or str, optional
        The fitted domain that computed the attribution. One from :func:`cdig.explain` carries it;
        for one read from a file the domain is rebuilt from its recorded settings and fitted on
        ``x``, as :func:`cdig.explain` fitted it, when the settings determine it (every named domain
        but ICA, and DCT, Wavelet, MagnitudePhase, ComplexCepstrum, STFT, TrendSeason and
        FrequencyBands objects: see :meth:`cdig.Domain.from_description`); otherwise (an ICA, a
        basis, a Compose, a domain class of your own) pass it here. A given domain must give the
        attribution's coefficients at ``x``.
    time_axis, additional_forward_args, internal_batch_size, backend :
        As in :func:`cdig.explain` (``time_axis`` defaults to the attribution's).

    Returns
    -------
    Curves

    Examples
    --------
    >>> import torch, cdig
    >>> from cdig.metrics import deletion
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 9, padding=4), torch.nn.Tanh(),
    ...                             torch.nn.Flatten(), torch.nn.Linear(4 * 64, 2))
    >>> x = torch.randn(6, 1, 64)
    >>> maps = cdig.explain(model, x, "fourier", target=1)
    >>> c = deletion(model, x, maps["fourier"], fractions=[0, 0.1, 0.5, 1])
    >>> c.curve.shape, c.auc.shape
    ((6, 4), (6,))
    >>> bool(abs(c.curve[:, 0] - maps["fourier"].output).max() < 1e-4)   # nothing removed: f(x)
    True
    >>> bool(abs(c.curve[:, -1] - maps["fourier"].baseline_output).max() < 1e-4)   # all removed: f(x0)
    True
    """
    return _curves(
        "deletion",
        model,
        x,
        attribution,
        target,
        fractions,
        order,
        n_random,
        seed,
        domain,
        time_axis,
        additional_forward_args,
        internal_batch_size,
        backend,
    )


def insertion(
    model: Any,
    x: Any,
    attribution: Any,
    *,
    target: Any = None,
    fractions: Any = None,
    order: str = "signed",
    n_random: int = 1,
    seed: int = 0,
    domain: Any = None,
    time_axis: int | None = None,
    additional_forward_args: Any = None,
    internal_batch_size: int | None = None,
    backend: str | None = None,
) -> Curves:
    """Insertion curves: start from the baseline's coefficients and put the top-ranked ones of ``x`` back.

    Parameters and returns as :func:`deletion`; at fraction 0 the output is the baseline's, at 1 the input's.

    Examples
    --------
    >>> import torch, cdig
    >>> from cdig.metrics import insertion
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 1))
    >>> x = torch.randn(4, 1, 32)
    >>> maps = cdig.explain(model, x, "dct")
    >>> c = insertion(model, x, maps["dct"], n_random=3)
    >>> bool((c.auc >= c.random_auc - 1e-6).all())   # a linear model: the exact IG ranks best
    True
    """
    return _curves(
        "insertion",
        model,
        x,
        attribution,
        target,
        fractions,
        order,
        n_random,
        seed,
        domain,
        time_axis,
        additional_forward_args,
        internal_batch_size,
        backend,
    )


def _curves(
    kind: str,
    model: Any,
    x: Any,
    att: Any,
    target: Any,
    fractions: Any,
    order: str,
    n_random: Any,
    seed: Any,
    domain: Any,
    time_axis: Any,
    extra: Any,
    ibs: Any,
    backend: Any,
) -> Curves:
    f = check_fractions(DEFAULT_FRACTIONS if fractions is None else fractions)
    check_choice(order, "order", ("signed", "absolute"))
    n_random = check_positive_int(n_random, "n_random")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise CdigValueError(f"seed must be an integer, got {seed!r}")
    s = setup(
        model,
        x,
        att,
        domain=domain,
        target=target,
        time_axis=time_axis,
        additional_forward_args=extra,
        internal_batch_size=ibs,
        backend=backend,
    )
    n = len(s.z)
    scores = np.asarray(s.att.values, dtype=np.float64).reshape(n, -1)
    if order == "absolute":
        scores = np.abs(scores)
    # rank 0 = removed/inserted first; ties keep the coefficients' order (stable sort)
    ranks = np.empty((n, s.n_units), dtype=np.int64)
    np.put_along_axis(ranks, np.argsort(-scores, axis=1, kind="stable"), np.arange(s.n_units)[None, :], axis=1)
    rng = np.random.default_rng(int(seed))
    with s.prep.be.prepared():
        curve = _sweep(s, kind, ranks, f)
        rand = np.mean([_sweep(s, kind, np.argsort(rng.random((n, s.n_units)), axis=1), f) for _ in range(n_random)], axis=0)
    span = f[-1] - f[0]
    auc = np.trapezoid(curve, f, axis=1) / span
    rauc = np.trapezoid(rand, f, axis=1) / span
    return Curves(kind, s.att.domain, f, curve, auc, rand, rauc, s.n_units, order)


def _sweep(s: Setup, kind: str, ranks: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """The explained output at each fraction for one ranking per sample: ``(N, F)``."""
    n = len(s.z)
    coef_ranks = ranks[:, s.index].reshape(s.z.shape)  # each coefficient takes its reported value's rank
    out = np.empty((n, len(fractions)))
    for j, frac in enumerate(fractions):
        k = int(round(frac * s.n_units))
        chosen = coef_ranks < k
        z = np.where(chosen, s.z0, s.z) if kind == "deletion" else np.where(chosen, s.z, s.z0)
        out[:, j] = s.outputs(z.astype(s.z.dtype, copy=False))
    return out
