"""Which domain does my model think in? Rank the domains of one explanation by how well their maps explain.

:func:`rank_domains` explains a batch once in every domain asked for (one call to :func:`cdig.explain`,
so the linear domains share one pass of gradients), then scores each domain's map two ways:

* **faithfulness** — the deletion and insertion curves of :mod:`cdig.metrics`: remove (or put back)
  the coefficients the map ranks first, a growing fraction at a time, and watch how soon the model's
  output reaches the baseline's (or the input's). In the domain the model "thinks in", the first few
  coefficients carry the whole change, so the output gets there at once.
* **concentration** — how few coefficients hold the map's mass (:func:`concentration`) and how
  spread out it is (:func:`normalised_entropy`). A model that reads one frequency gives a Fourier map
  with one bin and a time map spread over every sample.

The domains are ordered by how sparse their maps are — the normalised entropy of ``|attribution|``,
the share of a domain's coefficients the map effectively uses on a log scale, so domains of different
sizes compare — among the maps that order their own coefficients better than chance (both gains over a
random order positive); maps that do not are listed after them. The result, :class:`DomainRanking`,
holds one row per domain, the domains best first, a Markdown table and a plot.

Examples
--------
>>> import torch, cdig
>>> from cdig.ranking import rank_domains
>>> from cdig.testing import FourierBandEnergy
>>> model = FourierBandEnergy(5, 6)               # the energy of rFFT bin 5, nothing else
>>> x = torch.randn(4, 1, 64)
>>> r = rank_domains(model, x, ("time", "fourier"))
>>> r.order[0]
'fourier'
>>> r.rows[0]["concentration"] == 1 / 33          # one of the 33 bins holds all the mass
True
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .core.attribution import Attribution
from .core.errors import CdigValueError

__all__ = ["DomainRanking", "rank_domains", "concentration", "normalised_entropy", "residual_auc", "COLUMNS"]

#: The columns of :attr:`DomainRanking.rows`, and how to read each one.
COLUMNS: dict[str, str] = {
    "rank": "1 for the domain ranked best (see DomainRanking.order for the rule).",
    "domain": "The domain's name.",
    "n_coefficients": "Values the map reports per sample (bins, samples, components, ...).",
    "faithfulness": "The mean of deletion_auc and insertion_auc. Smaller is better.",
    "deletion_auc": (
        "How long the output takes to reach the baseline's when the map's coefficients are replaced by the "
        "baseline's, largest |attribution| first, a growing fraction at a time: the distance still to go, "
        "|f - f(baseline)| / |f(x) - f(baseline)|, averaged over the fractions and the samples. About half "
        "the first fraction step (0.025 with the default fractions) when one coefficient carries the whole "
        "change; about 0.5 when the change is spread evenly. Smaller is better."
    ),
    "insertion_auc": (
        "The same from the other end: starting from the baseline, the top coefficients of x are put back "
        "first; the distance is |f - f(x)| / |f(x) - f(baseline)|. Smaller is better."
    ),
    "deletion_gain": (
        "The same distance for a random order minus the map's (deletion_auc): positive when the map orders "
        "this domain's coefficients better than chance. A check of the map within its domain, not a "
        "comparison between domains: a random order wanders further in a domain whose coefficients' "
        "contributions cancel, which inflates the gain there."
    ),
    "insertion_gain": "The same for insertion_auc.",
    "concentration": (
        "The fraction of the coefficients that hold 90% of the map's total |attribution| (fewest first), "
        "averaged over samples: 1/n_coefficients when one coefficient holds it all, about 0.9 when the "
        "mass is spread evenly. Smaller is more concentrated."
    ),
    "entropy": (
        "The entropy of |attribution| / its sum, divided by log(n_coefficients), averaged over samples: "
        "0 when one coefficient holds all the mass, 1 when every coefficient holds the same: the ranking's "
        "key among the maps that beat chance. Smaller is more concentrated."
    ),
    "max_abs_delta": "The largest completeness error |sum of the map - (f(x) - f(baseline))| over samples.",
}


@dataclass
class DomainRanking:
    """Domains scored and ordered by how well their maps explain the model (see :func:`rank_domains`).

    Attributes
    ----------
    rows : list of dict
        One row per domain, best first, with the keys of :data:`COLUMNS` (how to read each is there
        and in :meth:`to_markdown`'s legend).
    order : list of str
        The domains' names, best first. First the domains whose map beats chance in its own domain
        (``deletion_gain`` and ``insertion_gain`` both positive), then the others; within each, by
        ``entropy`` (smaller first, compared to 3 decimals), then ``faithfulness`` (smaller first),
        then in the order the domains were asked for. A map of a single value per sample (nothing to
        be sparse over) goes after the maps of several.
    attributions : dict of str to Attribution
        What :func:`cdig.explain` returned.
    curves : dict of str to dict
        Per domain, ``{"deletion": Curves, "insertion": Curves}`` from :mod:`cdig.metrics`.
    """

    rows: list[dict[str, Any]]
    order: list[str]
    attributions: dict[str, Attribution] = field(default_factory=dict, repr=False)
    curves: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def table(self) -> dict[str, dict[str, Any]]:
        """The rows keyed by domain name."""
        return {row["domain"]: row for row in self.rows}

    def to_markdown(self, legend: bool = True) -> str:
        """A Markdown table of the rows, best first, with (``legend``) a line on how to read each column.

        Examples
        --------
        >>> r = DomainRanking([dict.fromkeys(COLUMNS, 0.5) | {"rank": 1, "domain": "time", "n_coefficients": 8}], ["time"])
        >>> print(r.to_markdown(legend=False).splitlines()[2])
        | 1 | time | 8 | 0.5 | 0.5 | 0.5 | 0.5 | 0.5 | 50% | 0.5 | 0.5 |
        """
        keys = list(COLUMNS)
        lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
        for row in self.rows:
            lines.append("| " + " | ".join(_cell(k, row[k]) for k in keys) + " |")
        if legend:
            lines.append("")
            lines.extend(f"- **{k}**: {text}" for k, text in COLUMNS.items())
        return "\n".join(lines)

    def plot(self, figsize: tuple[float, float] = (9.0, 3.5)) -> Any:
        """Bars per domain, best first: the deletion and insertion AUCs (left) and the concentration (right).

        Returns a ``matplotlib.figure.Figure`` not attached to pyplot. Read the left panel as "how long
        the output takes to get there when the map's top coefficients go first" (shorter is better) and
        the right one as "how few coefficients hold the map" (shorter is more concentrated).
        """
        from matplotlib.figure import Figure  # an edge: imported only when drawing

        fig = Figure(figsize=figsize, layout="constrained")
        ax_gain, ax_conc = fig.subplots(1, 2)
        names = [row["domain"] for row in self.rows]
        pos = np.arange(len(names))
        w = 0.4
        ax_gain.bar(pos - w / 2, [row["deletion_auc"] for row in self.rows], w, label="deletion")
        ax_gain.bar(pos + w / 2, [row["insertion_auc"] for row in self.rows], w, label="insertion")
        ax_gain.set_ylabel("mean distance still to go\n(fraction of |f(x) - f(baseline)|)")
        ax_gain.set_title("faithfulness (shorter is better)")
        ax_gain.legend(fontsize="small")
        ax_conc.bar(pos - w / 2, [row["concentration"] for row in self.rows], w, label="share holding 90% of |A|")
        ax_conc.bar(pos + w / 2, [row["entropy"] for row in self.rows], w, label="normalised entropy")
        ax_conc.set_ylim(0, 1.05)
        ax_conc.set_title("concentration (shorter is more concentrated)")
        ax_conc.legend(fontsize="small")
        for ax in (ax_gain, ax_conc):
            ax.set_xticks(pos, names)
        return fig

    def __repr__(self) -> str:
        return f"DomainRanking(order={self.order})"


def _cell(key: str, value: Any) -> str:
    if isinstance(value, str) or isinstance(value, (int, np.integer)):
        return str(value)
    if key == "concentration":
        return f"{100 * value:.3g}%"
    return f"{value:.4g}"


def _magnitudes(values: Any) -> np.ndarray:
    """``|values|`` as ``(N, P)`` float64: one row per sample, an Attribution's map or an array."""
    v = values.values if isinstance(values, Attribution) else values
    a = np.abs(np.asarray(v))
    if a.ndim < 2:
        raise CdigValueError(f"values must have a sample axis and at least one more, got shape {a.shape}")
    return a.reshape(len(a), -1).astype(np.float64)


def concentration(values: Any, mass: float = 0.9) -> np.ndarray:
    """Per sample, the smallest fraction of the reported values whose ``|A|`` holds ``mass`` of the total.

    Parameters
    ----------
    values : Attribution or array, shape (N, ...)
    mass : float in (0, 1]

    Returns
    -------
    ndarray, shape (N,)
        ``k / P`` with ``k`` the fewest values (largest first) summing to at least ``mass`` of
        ``sum |A|``, ``P`` the values per sample; NaN for a sample whose map is all zeros.

    Examples
    --------
    >>> concentration(np.array([[0.0, 3.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]))
    array([0.25, 1.  ])
    """
    if isinstance(mass, bool) or not isinstance(mass, (int, float, np.floating)) or not 0 < mass <= 1:
        raise CdigValueError(f"mass must be a number in (0, 1], got {mass!r}")
    a = _magnitudes(values)
    total = a.sum(axis=1)
    cum = np.cumsum(-np.sort(-a, axis=1), axis=1)
    # the smallest k with cum[k-1] >= mass * total; a hair of slack so 90% of ten equal values is 9 of them
    k = (cum < mass * total[:, None] * (1 - 1e-12)).sum(axis=1) + 1
    return np.where(total > 0, k / a.shape[1], np.nan)


def normalised_entropy(values: Any) -> np.ndarray:
    """Per sample, the Shannon entropy of ``|A| / sum |A|`` divided by ``log P`` (``P`` values per sample).

    0 when one value holds all the mass, 1 when all hold the same; 0 for ``P = 1``; NaN for a sample
    whose map is all zeros.

    Examples
    --------
    >>> normalised_entropy(np.array([[0.0, 2.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]))
    array([0., 1.])
    """
    a = _magnitudes(values)
    total = a.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = a / total
        h = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=1)
    n = a.shape[1]
    h = h / np.log(n) if n > 1 else np.zeros(len(a))
    return np.where(total[:, 0] > 0, np.clip(h, 0.0, 1.0), np.nan)


def _mean(v: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (all-zero maps) stay NaN
        return float(np.nanmean(v)) if v.size else float("nan")


def residual_auc(curves: Any, att: Attribution) -> tuple[np.ndarray, np.ndarray]:
    """Per sample, the mean distance a deletion or insertion curve still has to go, for the map and at random.

    The distance at each fraction is ``|curve - f(baseline)|`` (deletion) or ``|curve - f(x)|``
    (insertion), over ``|f(x) - f(baseline)|``, averaged over the fractions (trapezoidal rule over
    their span). Absolute distances, unlike the curves' own AUCs (:attr:`cdig.metrics.Curves.auc`),
    do not reward a curve that overshoots: removing all positive attributions of a spread map whose
    parts cancel drives the output past the baseline, which a signed AUC scores better than removing
    the one coefficient that carries the change. NaN where ``f(x) = f(baseline)``.

    Parameters
    ----------
    curves : cdig.metrics.Curves
        From :func:`cdig.metrics.deletion` or :func:`cdig.metrics.insertion` of ``att``.
    att : Attribution
        The map the curves were computed for (its ``output`` and ``baseline_output``).

    Returns
    -------
    (ndarray, ndarray), shapes (N,) and (N,)
        The map's order's mean distance and the random orders'.

    Examples
    --------
    >>> from cdig.metrics import Curves
    >>> f = np.array([0.0, 0.5, 1.0])
    >>> c = Curves("deletion", "time", f, np.array([[2.0, 0.0, 0.0]]), np.zeros(1),
    ...            np.array([[2.0, 2.0, 0.0]]), np.zeros(1), 2, "absolute")
    >>> a = Attribution(np.array([[2.0, 0.0]]), "time", ("time",), {}, np.zeros(1), np.array([2.0]),
    ...                 np.zeros(1), np.array([8]))
    >>> residual_auc(c, a)
    (array([0.25]), array([0.75]))
    """
    end = np.asarray(att.baseline_output if curves.kind == "deletion" else att.output, dtype=np.float64)
    change = np.abs(np.asarray(att.output, dtype=np.float64) - att.baseline_output)
    scale = np.where(change > 0, change, np.nan)[:, None]
    f = curves.fractions
    span = f[-1] - f[0]

    def mean_distance(curve: np.ndarray) -> np.ndarray:
        return np.asarray(np.trapezoid(np.abs(curve - end[:, None]) / scale, f, axis=1) / span)

    return mean_distance(curves.curve), mean_distance(curves.random_curve)


def _default_domains() -> tuple[str, ...]:
    """Every domain made from its name alone whose map comes from the shared linear pass."""
    from .domains import DOMAINS

    return tuple(name for name, make in DOMAINS.items() if make().linear)


def rank_domains(
    model: Any,
    x: Any,
    domains: Any = None,
    *,
    target: Any = None,
    baselines: Any = None,
    attributions: Any = None,
    n_steps: int | str = 32,
    fractions: Any = None,
    n_random: int = 1,
    seed: int = 0,
    **explain_kwargs: Any,
) -> DomainRanking:
    """Explain ``x`` once in several domains and rank the domains by how well their maps explain the model.

    Parameters
    ----------
    model, x, target, baselines :
        As in :func:`cdig.explain`.
    domains : str, Domain or sequence of them, optional
        As in :func:`cdig.explain`; default every domain made from its name alone whose map comes from
        the shared linear pass (``"time"``, ``"fourier"``, ``"ica"``, ``"dct"``, ``"wavelet"``).
    attributions : dict of str to Attribution, optional
        Maps already computed for ``model`` and ``x`` (what :func:`cdig.explain` returned, or maps read
        back with :meth:`cdig.Attribution.load`): ranked as they are, with no second explanation.
        ``domains``, ``baselines`` and keywords only :func:`cdig.explain` takes are then refused (they
        would not be used); ``target`` and the metrics' keywords (``time_axis``,
        ``additional_forward_args``, ``backend``, ``internal_batch_size``) are used.
    n_steps : int or "auto"
        As in :func:`cdig.explain` (a smaller default: the ranking needs the maps' order, not 4 digits).
    fractions : sequence of float, optional
        Fractions of each domain's coefficients removed / inserted (see :func:`cdig.metrics.deletion`);
        every domain uses the same fractions of its own coefficients.
    n_random : int
        Random orders averaged for the reference curves.
    seed : int
        Seed of the random orders.
    **explain_kwargs :
        Passed to :func:`cdig.explain` (``fs``, ``time_axis``, ``method``, ``additional_forward_args``,
        ``backend``...); ``time_axis``, ``additional_forward_args``, ``backend`` and an integer
        ``internal_batch_size`` are also given to the metrics. ``multiply_by_inputs=False`` is refused:
        the ranking needs attributions.

    Returns
    -------
    DomainRanking
        ``order`` lists the domains best first: the maps that beat chance (both gains positive) by
        ``entropy`` (smaller first), then the others the same way (see :attr:`DomainRanking.order`).
        See :data:`COLUMNS` for every column.

    Raises
    ------
    CdigValueError, CdigTypeError, CdigModelError
        As :func:`cdig.explain` and :func:`cdig.metrics.deletion` raise them (a bad ``domains`` gives
        :func:`cdig.explain`'s error).

    Notes
    -----
    The question asked is in which domain *few* coefficients carry the output. The normalised entropy
    answers it on a scale that compares domains of different sizes: ``log`` of the effective number of
    coefficients over ``log`` of the number there are, so one value of 3 independent components and
    one bin of 129 both score 0, and an even spread scores 1 in either. A fraction of the coefficients
    (``concentration``, or the deletion AUC on a fraction grid) would instead rank small domains last
    whatever their maps: removing 1 of 3 components is a third of them. A map is only worth ranking if
    it says which of its coefficients matter, so the deletion and insertion curves check it first: the
    maps whose order of coefficients does not beat a random order both ways go after those that do.

    The AUCs are fractions of each sample's output change ``|f(x) - f(baseline)|`` (see
    :func:`residual_auc`), so they compare across domains and samples. The coefficients are ordered by
    ``|attribution|`` (``order="absolute"`` in :func:`cdig.metrics.deletion`), so one pushing the output
    down counts as much as one pushing it up. The curves themselves are in
    :attr:`DomainRanking.curves`.
    """
    from . import metrics
    from .api import explain

    if explain_kwargs.get("multiply_by_inputs") is False:
        raise CdigValueError(
            "multiply_by_inputs=False gives path-integrated gradients, not attributions; rank_domains ranks "
            "coefficients by attribution: leave multiply_by_inputs at True"
        )
    if attributions is None:
        maps = explain(
            model,
            x,
            _default_domains() if domains is None else domains,
            target=target,
            baselines=baselines,
            n_steps=n_steps,
            **explain_kwargs,
        )
    else:
        explain_only = sorted(set(explain_kwargs) - {"time_axis", "additional_forward_args", "backend", "internal_batch_size"})
        given = [k for k, v in (("domains", domains), ("baselines", baselines)) if v is not None] + explain_only
        if given:
            raise CdigValueError(
                f"attributions= ranks maps already computed, so {', '.join(given)} would not be used: leave "
                f"{'it' if len(given) == 1 else 'them'} out (the maps carry their domains and baselines), or pass "
                "no attributions to explain here"
            )
        maps = _given(attributions, x)
    shared: dict[str, Any] = {
        k: explain_kwargs[k] for k in ("time_axis", "additional_forward_args", "backend") if k in explain_kwargs
    }
    ibs = explain_kwargs.get("internal_batch_size")
    if isinstance(ibs, (int, np.integer)) and not isinstance(ibs, bool):
        shared["internal_batch_size"] = int(ibs)
    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, Any]] = {}
    for name, att in maps.items():
        kw: dict[str, Any] = dict(target=target, fractions=fractions, order="absolute", n_random=n_random, seed=seed, **shared)
        d = metrics.deletion(model, x, att, **kw)
        ins = metrics.insertion(model, x, att, **kw)
        curves[name] = {"deletion": d, "insertion": ins}
        (del_map, del_rand), (ins_map, ins_rand) = residual_auc(d, att), residual_auc(ins, att)
        rows.append(
            {
                "rank": 0,
                "domain": name,
                "n_coefficients": int(d.n_units),
                "faithfulness": (_mean(del_map) + _mean(ins_map)) / 2,
                "deletion_auc": _mean(del_map),
                "insertion_auc": _mean(ins_map),
                "deletion_gain": _mean(del_rand - del_map),
                "insertion_gain": _mean(ins_rand - ins_map),
                "concentration": _mean(concentration(att)),
                "entropy": _mean(normalised_entropy(att)),
                "max_abs_delta": float(np.max(np.abs(att.delta))) if att.delta.size else 0.0,
            }
        )
    rows = _ordered(rows)
    return DomainRanking(rows, [row["domain"] for row in rows], dict(maps), curves)


def _given(attributions: Any, x: Any) -> dict[str, Attribution]:
    """``attributions=``, checked: a non-empty dict of Attribution, one row per sample of ``x``."""
    if not isinstance(attributions, dict) or not attributions:
        raise CdigValueError(
            f"attributions must be a non-empty dict {{domain name: Attribution}} (what cdig.explain returns), "
            f"got {type(attributions).__name__}"
        )
    n = len(x)
    for name, att in attributions.items():
        if not isinstance(att, Attribution):
            raise CdigValueError(f"attributions[{name!r}] must be a cdig.Attribution, got {type(att).__name__}")
        if len(att.values) != n:
            raise CdigValueError(
                f"attributions[{name!r}] holds {len(att.values)} sample(s) and x {n}: pass the maps of these samples"
            )
    return dict(attributions)


def _ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows best first (see :attr:`DomainRanking.order`), with ``rank`` filled in."""

    def finite(v: float) -> float:
        return v if np.isfinite(v) else np.inf

    def key(item: tuple[int, dict[str, Any]]) -> tuple[bool, bool, float, float, int]:
        i, row = item
        beats_chance = row["deletion_gain"] > 0 and row["insertion_gain"] > 0  # False for NaN
        entropy = finite(row["entropy"])
        return (not beats_chance, row["n_coefficients"] < 2, round(entropy, 3), finite(row["faithfulness"]), i)

    out = [row for _, row in sorted(enumerate(rows), key=key)]
    for r, row in enumerate(out, start=1):
        row["rank"] = r
    return out
