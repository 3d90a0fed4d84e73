"""One self-contained HTML page about a batch of explanations (an edge: uses the core and :mod:`cdig.plot`).

The page holds, for the maps of one batch in one or more domains:

* the **completeness** of every domain: max and median ``|delta|``, and the same relative to
  ``|f(x) - f(baseline)|`` where that difference is not zero;
* **class-averaged maps** (when the class of each sample is known): one figure per domain with one
  panel per class, and the top coefficients of each class's mean map;
* for the first ``samples`` samples: the input signal (when known), a :func:`cdig.plot.summary`
  figure of every domain, and each domain's ``top_k`` coefficients by ``|value|``.

Figures are PNG images inlined as base64 ``data:`` URIs and the style sheet is in the page, so the
file can be mailed or archived on its own (and printed: it is the static counterpart of an
interactive page). Every figure is drawn at the page's full width (1,200 px) with the conventions of
:mod:`cdig.plot`: robust colour limits and a colour bar on every heat map (the class averages
included), long inputs as min/max envelopes, many Fourier bins summed into bands. matplotlib is
imported only when a page is written.
:func:`read_folder` reads what ``cdig demo`` and ``cdig explain`` write (through the one reader of
result folders, :func:`cdig.results.read_results`), for ``cdig report DIR``. The page is composed of
one builder per section: header, completeness table, class-averaged maps, per-sample summaries,
each with its top-k tables.

>>> from cdig.report import write_report, read_folder
>>> write_report.__name__, read_folder.__name__
('write_report', 'read_folder')
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from ._files import write_atomic
from ._pages import canonical_x, check_maps, class_name, classes, input_of, positive_int
from .core.attribution import Attribution
from .core.errors import CdigValueError
from .results import read_results

__all__ = ["write_report", "read_folder", "FolderContents", "coefficient_label", "top_coefficients", "is_cdig_report"]

#: Resolution of the inlined figures: 1,200 px wide (:data:`FIGURE_WIDTH` inches), the page's full
#: width, so the browser shows them at their own size; ~50-200 kB per figure.
DPI = 100
#: Width of every figure of the page, in inches (at :data:`DPI`: the page's 1,200 px).
FIGURE_WIDTH = 12.0


# --- what the page is made of: plain numbers first -----------------------------------------------
def coefficient_label(att: Attribution, index: Sequence[int]) -> str:
    """A readable name of one coefficient of a map: each axis by its coordinate and unit.

    Parameters
    ----------
    att : Attribution
    index : sequence of int
        One index per axis of ``att.dims`` (the sample axis excluded).

    Returns
    -------
    str
        E.g. ``"channel 0, frequency 10 Hz"``, ``"component 2"``, ``"channel 1, alpha"``.

    Examples
    --------
    >>> import numpy as np
    >>> from cdig import Attribution
    >>> a = Attribution(np.zeros((1, 2, 3)), "fourier", ("channel", "frequency"),
    ...                 {"channel": np.arange(2), "frequency": np.array([0.0, 10.0, 20.0])},
    ...                 np.zeros(1), np.ones(1), np.zeros(1), np.array([8]), units={"frequency": "Hz"})
    >>> coefficient_label(a, (0, 1))
    'channel 0, frequency 10 Hz'
    """
    shape = np.shape(att.values)[1:]
    parts = []
    for axis, (dim, i) in enumerate(zip(att.dims, index)):
        i = int(i)
        c = att.coords.get(dim)
        c = np.asarray(c) if c is not None else None
        if c is None or c.ndim != 1 or len(c) != shape[axis]:
            parts.append(f"{dim} {i}")
        elif c.dtype.kind in "USO":
            parts.append(str(c[i]))
        else:
            unit = att.units.get(dim, "")
            text = f"{dim} {_g(c[i])}" + (f" {unit}" if unit and unit != "sample" else "")
            parts.append(text + _wavelet_detail(att, dim, i, shape[axis]))
    return ", ".join(parts)


def _wavelet_detail(att: Attribution, dim: str, i: int, n: int) -> str:
    """Wavelet coefficients also name their level (``D2``) and the time they sit at."""
    if dim != "coefficient":
        return ""
    extra = []
    band, names = att.coords.get("band"), att.coords.get("band_name")
    if band is not None and names is not None and len(band) == n and 0 <= int(band[i]) < len(names):
        extra.append(str(names[int(band[i])]))
    t = att.coords.get("time")
    if t is not None and len(t) == n and np.asarray(t).dtype.kind in "fiu":
        unit = att.units.get("time", "")
        extra.append(f"at {_g(t[i])}" + (f" {unit}" if unit and unit != "sample" else ""))
    return f" ({' '.join(extra)})" if extra else ""


def top_coefficients(att: Attribution, sample: int | None, k: int) -> list[tuple[str, float]]:
    """The ``k`` coefficients of one sample's map (or of ``att.values[0]`` when ``sample`` is None)
    with the largest ``|value|``, largest first (ties in the map's order).

    Returns
    -------
    list of (label, value)

    Examples
    --------
    >>> import numpy as np
    >>> from cdig import Attribution
    >>> a = Attribution(np.array([[0.5, -2.0, 1.0]]), "ica", ("component",), {"component": np.arange(3)},
    ...                 np.zeros(1), np.ones(1), np.zeros(1), np.array([8]))
    >>> top_coefficients(a, 0, 2)
    [('component 1', -2.0), ('component 2', 1.0)]
    """
    v = np.asarray(att.values[0 if sample is None else sample])
    flat = v.reshape(-1)
    order = np.argsort(-np.abs(flat), kind="stable")[:k]
    idx = np.unravel_index(order, v.shape) if v.ndim else [()] * len(order)
    return [(coefficient_label(att, [ax[j] for ax in idx]), float(flat[o])) for j, o in enumerate(order)]


def _completeness(att: Attribution) -> dict[str, float]:
    abs_delta = np.abs(np.asarray(att.delta, dtype=float))
    diff = np.abs(np.asarray(att.output, dtype=float) - np.asarray(att.baseline_output, dtype=float))
    ok = np.isfinite(diff) & (diff > 0)
    rel = abs_delta[ok] / diff[ok]
    nan = float("nan")
    return {
        "max_abs_delta": float(abs_delta.max()) if abs_delta.size else nan,
        "median_abs_delta": float(np.median(abs_delta)) if abs_delta.size else nan,
        "max_relative_delta": float(rel.max()) if rel.size else nan,
        "median_relative_delta": float(np.median(rel)) if rel.size else nan,
        "median_output_change": float(np.median(diff[ok])) if ok.any() else nan,
        "median_steps": float(np.median(att.n_steps)) if np.size(att.n_steps) else nan,
    }


def _class_mean(att: Attribution, sel: np.ndarray) -> Attribution:
    """The mean map of the selected samples, as a one-sample Attribution (per-sample extras averaged too)."""
    n = len(att.values)

    def mean(a: Any) -> Any:
        a = np.asarray(a)
        return a[sel].mean(axis=0, keepdims=True) if a.ndim >= 1 and len(a) == n else a

    extras = {k: mean(v) if np.ndim(v) >= 2 else v for k, v in att.extras.items()}
    return replace(
        att,
        values=mean(att.values),
        delta=mean(att.delta),
        output=mean(att.output),
        baseline_output=mean(att.baseline_output),
        n_steps=mean(att.n_steps),
        extras=extras,
        coefficients=None,
        baseline_coefficients=None,
    )


# --- figures ----------------------------------------------------------------------------------
def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _input_figure(x: np.ndarray, t: np.ndarray, t_unit: str, title: str) -> Any:
    """The input of one sample, (C, T): one trace per channel, stacked with an offset; a long series
    as its min/max envelope per column (:func:`cdig.plot._mpl.envelope`), not a solid block."""
    from .plot._mpl import columns, envelope, new_figure

    fig = new_figure((FIGURE_WIDTH, 0.6 + 0.45 * min(len(x), 8) + 1.0))
    ax = fig.add_subplot()
    span = float(np.max(np.ptp(x, axis=1))) if x.size else 1.0
    step = span if span > 0 else 1.0
    n_cols = columns(FIGURE_WIDTH - 1.0)
    for c, row in enumerate(x):
        envelope(ax, t, row - c * step, n_cols, lw=0.8)
    ax.set_yticks([-c * step for c in range(len(x))], [f"ch {c}" for c in range(len(x))] if len(x) <= 16 else None)
    ax.set_xlabel(f"time ({t_unit})" if t_unit else "time")
    if len(t) > 1:
        ax.set_xlim(float(t[0]), float(t[-1]))
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    return fig


def _summary_figure(panels: Mapping[str, Attribution], sample: int, title: str) -> Any:
    """:func:`cdig.plot.summary` at the page's width: up to three panels a row."""
    from .plot import summary  # matplotlib, only now

    ncols = min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    return summary(panels, sample, title=title, ncols=ncols, figsize=(FIGURE_WIDTH, 3.2 * nrows))


# --- the page ---------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1200px;
padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
h3{margin-bottom:.3em}table{border-collapse:collapse;margin:.4em 0 1em;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%;height:auto;display:block;
margin:.5em 0}img.summary,img.class-mean,img.input{width:100%}
.tables{display:flex;flex-wrap:wrap;gap:1.5em}.note{color:#666;font-size:.9em}
.pos{color:#c0392b}.neg{color:#2e6da4}nav a{margin-right:1em}
@media print{body{max-width:none;margin:0}img,table{break-inside:avoid}nav{display:none}}
""".strip()


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _g(v: Any) -> str:
    return f"{float(v):.4g}"


def _num(v: float, signed: bool = False) -> str:
    """A number cell: shown with 4 significant digits, the exact value in ``data-value``; attributions
    (``signed``) coloured by their sign."""
    v = float(v)
    if not np.isfinite(v):
        return f'<td class="num" data-value="{_e(repr(v))}">n/a</td>'
    cls = " pos" if signed and v > 0 else " neg" if signed and v < 0 else ""
    return f'<td class="num{cls}" data-value="{_e(repr(v))}">{_e(f"{v:.4g}")}</td>'


def _img(b64: str, alt: str, kind: str) -> str:
    return f'<img class="{kind}" alt="{_e(alt)}" src="data:image/png;base64,{b64}">'


def _top_table(name: str, att: Attribution, sample: int | None, k: int, caption: str, kind: str, extra: str = "") -> str:
    rows = "".join(
        f'<tr><td class="num">{r}</td><td>{_e(label)}</td>{_num(v, signed=True)}</tr>'
        for r, (label, v) in enumerate(top_coefficients(att, sample, k), 1)
    )
    return (
        f'<table class="{kind}" data-domain="{_e(name)}"{extra}><caption>{_e(caption)}</caption>'
        f"<tr><th>#</th><th>coefficient</th><th>attribution</th></tr>{rows}</table>"
    )


def _k(att: Attribution, k: int) -> int:
    """Rows of a top-k table: k, or fewer when the map has fewer coefficients."""
    return min(k, int(np.prod(np.shape(att.values)[1:], dtype=np.int64)))


def _tex_safe(text: str) -> str:
    """matplotlib reads ``$...$`` as mathematics: class names and titles are drawn as they are."""
    return text.replace("$", r"\$")


def write_report(
    maps: Any,
    path: str | Path,
    *,
    x: Any = None,
    y: Any = None,
    class_names: Any = None,
    y_label: str = "class",
    y_true: Any = None,
    samples: int = 8,
    top_k: int = 10,
    title: str = "cdig report",
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write one self-contained HTML page about a batch of explanations.

    Parameters
    ----------
    maps : dict of str to Attribution, sequence of Attribution, or Attribution
        The maps of one batch (e.g. the result of :func:`cdig.explain`); every map has the same samples.
    path : str or Path
        The HTML file to write (its folder must exist).
    x : array-like, optional
        The explained inputs, as given to :func:`cdig.explain` (numpy or a tensor; (N, C, T), (N, T) or
        the layout the maps' ``time_axis`` names). Default: the time-domain map's coefficients when
        there is one (they are the input); no input figures otherwise.
    y : array-like of shape (N,), optional
        The class of each sample (true labels or predictions): enables the class-averaged maps and
        names each sample's class.
    class_names : sequence or dict, optional
        Names of the classes, indexed by the values of ``y``.
    y_label : str
        What ``y`` is, shown on the page (e.g. ``"predicted class"``).
    y_true : array-like of shape (N,), optional
        The true class of each sample, shown beside ``y`` when ``y`` holds predictions.
    samples : int
        How many samples (the first ones) get their own figures and tables.
    top_k : int
        Coefficients per table, by largest ``|value|``.
    title : str
    info : dict, optional
        Facts about the run shown in a table under the title (e.g. the model and data files).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    cdig.CdigValueError
        For empty maps, maps of different batch sizes, ``y``, ``y_true`` or ``x`` not matching the batch, or
        ``samples`` / ``top_k`` not positive integers.
    cdig.CdigTypeError
        When ``maps`` holds something else than Attributions.
    ImportError
        When matplotlib is missing.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from cdig import Attribution
    >>> a = Attribution(np.array([[0.5, -2.0, 1.0], [1.0, 0.0, 0.0]]), "ica", ("component",),
    ...                 {"component": np.arange(3)}, np.zeros(2), np.array([1.5, 1.0]), np.zeros(2), np.array([8, 8]))
    >>> p = write_report({"ica": a}, os.path.join(tempfile.mkdtemp(), "report.html"), y=[1, 0], top_k=2)
    >>> text = p.read_text()
    >>> "component 1" in text and text.count("data:image/png;base64,") >= 3
    True
    """
    items = check_maps(maps, "a report")
    samples, top_k = positive_int("samples", samples), positive_int("top_k", top_k)
    path = _check_path(path)
    first = next(iter(items.values()))
    n = len(first.values)
    labels = _Labels(classes("y", y, n), classes("y_true", y_true, n), class_names, y_label)
    x = canonical_x(x, n, first.settings.get("time_axis")) if x is not None else input_of(items)
    parts = [
        _header_section(title, items, info),
        _completeness_section(items),
        _class_section(items, labels, top_k),
        _samples_section(items, range(min(samples, n)), x, labels, top_k),
    ]
    # written beside and renamed: a failed write (a full disk) leaves no half page and the old one intact
    return write_atomic(path, _page(title, parts))


def is_cdig_report(path: str | Path) -> bool:
    """Whether ``path`` is an HTML page written by :func:`write_report` (its ``generator`` tag, or the
    "Written by cdig" line of pages from before the tag): ``cdig report --force`` replaces only those.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> p = Path(tempfile.mkdtemp()) / "page.html"
    >>> _ = p.write_text("<html>mine</html>")
    >>> is_cdig_report(p)
    False
    """
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16).decode("utf-8", errors="replace")
    except OSError:
        return False
    return head.startswith("<!DOCTYPE html>") and ('<meta name="generator" content="cdig' in head or "Written by cdig " in head)


# --- the page's sections: each returns its HTML ----------------------------------------------
@dataclass
class _Labels:
    """What the page knows about the class of each sample."""

    y: np.ndarray | None
    y_true: np.ndarray | None
    names: Any
    label: str

    def name(self, c: Any) -> str:
        return class_name(c, self.names)

    def of_sample(self, s: int) -> str:
        said = ([f"{self.label} {self.name(self.y[s])}"] if self.y is not None else []) + (
            [f"true class {self.name(self.y_true[s])}"] if self.y_true is not None else []
        )
        return f" ({_e(', '.join(said))})" if said else ""


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise CdigValueError(f"cannot write the report to {path}: it is a folder; give a file name, e.g. {path / 'report.html'}")
    if not path.parent.is_dir():
        raise CdigValueError(f"cannot write the report to {path}: the folder {path.parent} does not exist")
    return path


def _header_section(title: str, items: Mapping[str, Attribution], info: Mapping[str, Any] | None) -> str:
    n = len(next(iter(items.values())).values)
    parts = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="note">{n} explained sample(s) in {len(items)} domain(s): {_e(", ".join(items))}. '
        f"Written by cdig {_e(__version__)}. Attributions are in the model output's units: red raises the "
        "explained output, blue lowers it.</p>",
        '<nav><a href="#completeness">Completeness</a><a href="#classes">Class averages</a><a href="#samples">Samples</a></nav>',
    ]
    if info:
        info_rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in info.items())
        parts.append(f'<table class="info">{info_rows}</table>')
    return "\n".join(parts)


_COMPLETENESS_KEYS = (
    "max_abs_delta",
    "median_abs_delta",
    "max_relative_delta",
    "median_relative_delta",
    "median_output_change",
    "median_steps",
)


def _completeness_section(items: Mapping[str, Attribution]) -> str:
    """One row per domain: the map's shape and :func:`_completeness`'s numbers."""
    head = (
        "<tr><th>domain</th><th>map per sample</th><th>max |delta|</th><th>median |delta|</th>"
        "<th>max relative</th><th>median relative</th><th>median |f(x) &minus; f(baseline)|</th>"
        "<th>median steps</th></tr>"
    )
    rows = []
    for name, a in items.items():
        stats = _completeness(a)
        shape = "×".join(map(str, np.shape(a.values)[1:])) or "1"
        rows.append(
            f'<tr data-domain="{_e(name)}"><td>{_e(name)}</td><td>{_e(shape)} ({_e(", ".join(a.dims))})</td>'
            + "".join(_num(stats[k]) for k in _COMPLETENESS_KEYS)
            + "</tr>"
        )
    return (
        '<h2 id="completeness">Completeness</h2><p class="note">delta = sum of the attributions '
        "&minus; (f(x) &minus; f(baseline)), per sample; relative: |delta| / |f(x) &minus; f(baseline)|, "
        f'over the samples where that difference is not zero.</p><table class="completeness">{head}'
        f"{''.join(rows)}</table>"
    )


def _class_section(items: Mapping[str, Attribution], labels: _Labels, top_k: int) -> str:
    """Per domain, a figure of each class's mean map and the top-k tables of those means."""
    parts = ['<h2 id="classes">Class averages</h2>']
    y, what = labels.y, labels.label
    if y is None:
        parts.append(
            '<p class="note">No classes known: pass y= (labels or predictions) for the maps '
            "averaged over the samples of each class.</p>"
        )
        return "\n".join(parts)
    classes = list(dict.fromkeys(np.sort(y).tolist()))
    counts = {c: int(np.sum(y == c)) for c in classes}
    parts.append(
        f'<p class="note">Mean attribution over the samples of each {_e(what)} '
        f"({', '.join(f'{_e(labels.name(c))}: {counts[c]}' for c in classes)}).</p>"
    )
    for name, a in items.items():
        means = {c: _class_mean(a, y == c) for c in classes}
        panels = {_tex_safe(f"{what} {labels.name(c)} (n={counts[c]})"): m for c, m in means.items()}
        fig = _summary_figure(panels, 0, _tex_safe(f"{name}: mean attribution per {what}"))
        parts.append(f"<h3>{_e(name)}</h3>" + _img(_png(fig), f"{name} averaged per {what}", "class-mean"))
        parts.append(
            _top_tables(
                [
                    (name, m, 0, f"{what} {labels.name(c)}: top {_k(m, top_k)} of the mean map", f' data-class="{_e(c)}"')
                    for c, m in means.items()
                ],
                top_k,
                "class-top",
            )
        )
    return "\n".join(parts)


def _samples_section(items: Mapping[str, Attribution], shown: range, x: np.ndarray | None, labels: _Labels, top_k: int) -> str:
    n = len(next(iter(items.values())).values)
    time_map = next((a for a in items.values() if a.domain == "time"), None)
    t = np.asarray(time_map.coords.get("time", []), dtype=float) if time_map is not None else np.array([])
    t_unit = time_map.units.get("time", "") if time_map is not None else ""
    if x is not None and len(t) != x.shape[-1]:
        t, t_unit = np.arange(x.shape[-1], dtype=float), "sample"
    return "\n".join(
        [
            f'<h2 id="samples">Samples</h2><p class="note">The first {len(shown)} of {n} samples; '
            f"tables: the {top_k} coefficients of each domain with the largest |attribution|.</p>"
        ]
        + [_sample_section(items, s, x, t, t_unit, labels, top_k) for s in shown]
    )


def _sample_section(
    items: Mapping[str, Attribution], s: int, x: np.ndarray | None, t: np.ndarray, t_unit: str, labels: _Labels, top_k: int
) -> str:
    """One sample: its completeness per domain, its input, a summary figure, each domain's top-k."""
    facts = "".join(
        f"<tr><td>{_e(name)}</td>{_num(float(np.sum(a.values[s], dtype=np.float64)), signed=True)}"
        f"{_num(float(a.output[s] - a.baseline_output[s]))}{_num(float(a.delta[s]))}</tr>"
        for name, a in items.items()
    )
    parts = [
        f'<section class="sample" id="sample-{s}" data-sample="{s}"><h3>Sample {s}{labels.of_sample(s)}</h3>',
        '<table class="sample-delta"><tr><th>domain</th><th>sum of attributions</th>'
        f"<th>f(x) &minus; f(baseline)</th><th>delta</th></tr>{facts}</table>",
    ]
    if x is not None:
        parts.append(_img(_png(_input_figure(x[s], t, t_unit, f"input of sample {s}")), f"input of sample {s}", "input"))
    fig = _summary_figure({_tex_safe(k): a for k, a in items.items()}, s, f"Sample {s}: attributions in every domain")
    parts.append(_img(_png(fig), f"attributions of sample {s}", "summary"))
    parts.append(
        _top_tables([(name, a, s, f"{name}: top {_k(a, top_k)}", "") for name, a in items.items()], top_k, "sample-top")
        + "</section>"
    )
    return "\n".join(parts)


def _top_tables(tables: Sequence[tuple[str, Attribution, int, str, str]], top_k: int, kind: str) -> str:
    """Top-k tables side by side: one per (domain name, map, sample, caption, extra attributes)."""
    return (
        '<div class="tables">'
        + "".join(_top_table(name, a, s, top_k, caption, kind, extra) for name, a, s, caption, extra in tables)
        + "</div>"
    )


def _page(title: str, parts: Sequence[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="cdig {_e(__version__)}">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


# --- folders written by `cdig demo` and `cdig explain` ------------------------------------------
@dataclass
class FolderContents:
    """What :func:`read_folder` found: the maps and, when the folder says so, inputs, classes, facts."""

    maps: dict[str, Attribution]
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    y_label: str = "class"
    y_true: np.ndarray | None = None
    class_names: list[str] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def read_folder(folder: str | Path) -> FolderContents:
    """Read a result folder written by ``cdig demo`` or ``cdig explain`` (:func:`cdig.results.read_results`)
    and say what the page can show: the maps, and when the folder says so, inputs, classes, facts.

    ``explained.npz`` (``cdig demo``) gives the inputs ``x`` and the predicted (and true) classes;
    ``summary.json`` gives the order of the maps, facts about the run, the class names, and the
    predicted class of each sample when ``cdig explain`` explained the predicted class (argmax). ``.npz`` files that
    are not Attributions are listed in ``ignored``.

    Raises
    ------
    cdig.CdigValueError
        One line naming the folder or file: the folder is missing, holds no maps, a file cannot be
        read, or the maps cover different batches.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from pathlib import Path
    >>> from cdig import Attribution
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = Attribution(np.ones((2, 3)), "ica", ("component",), {"component": np.arange(3)}, np.zeros(2),
    ...                 np.ones(2), np.zeros(2), np.array([8, 8])).save(d / "ica.npz")
    >>> list(read_folder(d).maps)
    ['ica']
    """
    r = read_results(folder)
    found = FolderContents(maps=r.maps, ignored=r.ignored)
    _readclasses(found, r.explained, r.summary, r.n)
    data = r.summary.get("data")
    if isinstance(data, dict) and isinstance(data.get("classes"), list):
        found.class_names = [str(c) for c in data["classes"]]
    found.info = _run_facts(r.folder, r.summary, r.ignored)
    return found


def _readclasses(found: FolderContents, explained: Mapping[str, np.ndarray], summary: Mapping[str, Any], n: int) -> None:
    """Inputs and classes from ``explained.npz`` (``cdig demo``), else the argmax targets of ``cdig explain``."""
    x = np.asarray(explained.get("x", []))
    if x.ndim in (2, 3) and len(x) == n and x.dtype.kind in "biuf":  # else no input figures
        found.x = x
    for key, label in (("predicted", "predicted class"), ("y", "class")):
        if key in explained and np.shape(explained[key]) == (n,):
            found.y, found.y_label = np.asarray(explained[key]), label
            break
    if found.y_label == "predicted class" and "y" in explained and np.shape(explained["y"]) == (n,):
        found.y_true = np.asarray(explained["y"])
    target = summary.get("target")
    if found.y is None and isinstance(target, dict) and str(target.get("rule", "")).startswith(("predicted", "argmax")):
        per_sample = target.get("per_sample")
        if isinstance(per_sample, list) and len(per_sample) == n:
            found.y, found.y_label = np.asarray(per_sample), "predicted class"


def _run_facts(folder: Path, summary: Mapping[str, Any], ignored: Sequence[str]) -> dict[str, Any]:
    """The page's table of facts about the run, from ``summary.json``."""
    info: dict[str, Any] = {"folder": str(folder.resolve())}
    if "accuracy" in summary:
        acc = summary["accuracy"]
        info["held-out accuracy (cdig demo)"] = f"{acc:.3f}" if isinstance(acc, (int, float)) else str(acc)
    for key in ("model", "data"):
        part = summary.get(key)
        if isinstance(part, dict) and ("file" in part or "name" in part):
            info[key] = part["file"] if "file" in part else part["name"]
    target, explained = summary.get("target"), summary.get("explained")
    if isinstance(target, dict) and "rule" in target:
        info["target"] = target["rule"]
    elif isinstance(explained, dict) and "target" in explained:
        info["target"] = explained["target"]
    settings = summary.get("settings")
    method = settings.get("method") if isinstance(settings, dict) else None
    if isinstance(method, str):
        from .core.rules import PERTURBATION_NAMES

        if method in PERTURBATION_NAMES:
            info["method"] = f"{PERTURBATION_NAMES[method]}, a perturbation method (its steps are model calls per sample)"
        else:
            steps = settings.get("n_steps") if isinstance(settings, dict) else None
            info["method"] = f"Integrated Gradients, {method}" + (f", n_steps {steps}" if steps is not None else "")
    if ignored:
        info["ignored files"] = ", ".join(ignored)
    return info
