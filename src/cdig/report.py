"""One self-contained HTML page about a batch of explanations (an edge: uses the core and :mod:`cdig.plot`).

The page holds, for the maps of one batch in one or more domains:

* the **completeness** of every domain: max and median ``|delta|``, and the same relative to
  ``|f(x) - f(baseline)|`` where that difference is not zero;
* **class-averaged maps** (when the class of each sample is known): one figure per domain with one
  panel per class, and the top coefficients of each class's mean map;
* for the first ``samples`` samples: the input signal (when known), a :func:`cdig.plot.summary`
  figure of every domain, and each domain's ``top_k`` coefficients by ``|value|``.

Figures are PNG images inlined as base64 ``data:`` URIs and the style sheet is in the page, so the
file can be mailed or archived on its own. matplotlib is imported only when a page is written.
:func:`read_folder` reads what ``cdig demo`` and ``cdig explain`` write, for ``cdig report DIR``.

>>> from cdig.report import write_report, read_folder
>>> write_report.__name__, read_folder.__name__
('write_report', 'read_folder')
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .core.attribution import Attribution
from .core.errors import CdigTypeError, CdigValueError

__all__ = ["write_report", "read_folder", "FolderContents", "coefficient_label", "top_coefficients"]

#: Resolution of the inlined figures: readable on screen, ~50-150 kB per figure.
DPI = 80


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
    return replace(att, values=mean(att.values), delta=mean(att.delta), output=mean(att.output),
                   baseline_output=mean(att.baseline_output), n_steps=mean(att.n_steps), extras=extras,
                   coefficients=None, baseline_coefficients=None)


# --- figures ----------------------------------------------------------------------------------
def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _input_figure(x: np.ndarray, t: np.ndarray, t_unit: str, title: str) -> Any:
    """The input of one sample, (C, T): one line per channel, stacked with an offset."""
    from .plot._mpl import new_figure

    fig = new_figure((8.0, 0.6 + 0.45 * min(len(x), 8) + 1.0))
    ax = fig.add_subplot()
    span = float(np.max(np.ptp(x, axis=1))) if x.size else 1.0
    step = span if span > 0 else 1.0
    for c, row in enumerate(x):
        ax.plot(t, row - c * step, lw=0.8, color="black")
    ax.set_yticks([-c * step for c in range(len(x))], [f"ch {c}" for c in range(len(x))] if len(x) <= 16 else None)
    ax.set_xlabel(f"time ({t_unit})" if t_unit else "time")
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    return fig


# --- the page ---------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1200px;
padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
h3{margin-bottom:.3em}table{border-collapse:collapse;margin:.4em 0 1em;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%;height:auto;display:block;
margin:.5em 0}.tables{display:flex;flex-wrap:wrap;gap:1.5em}.note{color:#666;font-size:.9em}
.pos{color:#c0392b}.neg{color:#2e6da4}nav a{margin-right:1em}
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


def _top_table(name: str, att: Attribution, sample: int | None, k: int, caption: str, kind: str,
               extra: str = "") -> str:
    rows = "".join(f'<tr><td class="num">{r}</td><td>{_e(label)}</td>{_num(v, signed=True)}</tr>'
                   for r, (label, v) in enumerate(top_coefficients(att, sample, k), 1))
    return (f'<table class="{kind}" data-domain="{_e(name)}"{extra}><caption>{_e(caption)}</caption>'
            f"<tr><th>#</th><th>coefficient</th><th>attribution</th></tr>{rows}</table>")


def _k(att: Attribution, k: int) -> int:
    """Rows of a top-k table: k, or fewer when the map has fewer coefficients."""
    return min(k, int(np.prod(np.shape(att.values)[1:], dtype=np.int64)))


def _check_maps(maps: Any) -> dict[str, Attribution]:
    if isinstance(maps, Attribution):
        items = {maps.domain: maps}
    elif isinstance(maps, Mapping):
        items = dict(maps)
    elif isinstance(maps, Sequence) and not isinstance(maps, (str, bytes)):
        items = {getattr(a, "domain", str(i)): a for i, a in enumerate(maps)}
    else:
        raise CdigTypeError(f"maps={type(maps).__name__}: expected an Attribution, a dict of name to "
                            "Attribution (as cdig.explain returns) or a list of them")
    if not items:
        raise CdigValueError("maps is empty; a report needs at least one Attribution")
    for name, a in items.items():
        if not isinstance(a, Attribution):
            raise CdigTypeError(f"maps[{name!r}] is a {type(a).__name__}, not a cdig.Attribution")
    sizes = {name: len(a.values) for name, a in items.items()}
    if len(set(sizes.values())) > 1:
        raise CdigValueError(f"the maps explain batches of different sizes ({sizes}); a report covers one batch")
    return items


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise CdigValueError(f"{name}={value!r}: expected a positive integer")
    return int(value)


def _canonical_x(x: Any, n: int, time_axis: Any) -> np.ndarray:
    """The inputs as (N, C, T) numpy, time moved last as the maps' ``time_axis`` says."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=float)
    if x.ndim not in (2, 3) or len(x) != n:
        raise CdigValueError(f"x has shape {x.shape}; expected the {n} explained inputs as (N, C, T) or (N, T)")
    if x.ndim == 2:
        return x[:, None, :]
    if isinstance(time_axis, int) and time_axis % 3 != 2:
        x = np.moveaxis(x, time_axis, -1)
    return x


def _classes(name: str, y: Any, n: int) -> np.ndarray | None:
    if y is None:
        return None
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise CdigValueError(f"{name} has shape {y.shape}; expected one class per explained sample, shape ({n},)")
    return y


def _tex_safe(text: str) -> str:
    """matplotlib reads ``$...$`` as mathematics: class names and titles are drawn as they are."""
    return text.replace("$", r"\$")


def _class_name(label: Any, class_names: Any) -> str:
    if class_names is None:
        return str(label)
    if isinstance(class_names, Mapping):
        return str(class_names.get(label, label))
    try:
        return str(class_names[int(label)])
    except (ValueError, TypeError, IndexError):
        return str(label)


def write_report(maps: Any, path: str | Path, *, x: Any = None, y: Any = None, class_names: Any = None,
                 y_label: str = "class", y_true: Any = None, samples: int = 8, top_k: int = 10,
                 title: str = "cdig report", info: Mapping[str, Any] | None = None) -> Path:
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
    items = _check_maps(maps)
    samples, top_k = _positive_int("samples", samples), _positive_int("top_k", top_k)
    path = Path(path)
    if path.is_dir():
        raise CdigValueError(f"cannot write the report to {path}: it is a folder; give a file name, e.g. "
                             f"{path / 'report.html'}")
    if not path.parent.is_dir():
        raise CdigValueError(f"cannot write the report to {path}: the folder {path.parent} does not exist")
    first = next(iter(items.values()))
    n = len(first.values)
    y, y_true = _classes("y", y, n), _classes("y_true", y_true, n)
    time_map = next((a for a in items.values() if a.domain == "time"), None)
    if x is not None:
        x = _canonical_x(x, n, first.settings.get("time_axis"))
    elif time_map is not None and time_map.coefficients is not None and np.ndim(time_map.coefficients) >= 2:
        c = np.asarray(time_map.coefficients, dtype=float)  # the input itself, canonical (N, C, T)
        x = c[:, None, :] if c.ndim == 2 else c.reshape(len(c), -1, c.shape[-1])
    shown = list(range(min(samples, n)))

    from .plot import summary  # matplotlib, only now

    parts = [f"<h1>{_e(title)}</h1>",
             f'<p class="note">{n} explained sample(s) in {len(items)} domain(s): {_e(", ".join(items))}. '
             f"Written by cdig {_e(__version__)}. Attributions are in the model output's units: red raises the "
             "explained output, blue lowers it.</p>",
             '<nav><a href="#completeness">Completeness</a><a href="#classes">Class averages</a>'
             '<a href="#samples">Samples</a></nav>']
    if info:
        info_rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in info.items())
        parts.append(f'<table class="info">{info_rows}</table>')

    # completeness
    parts.append('<h2 id="completeness">Completeness</h2><p class="note">delta = sum of the attributions '
                 "&minus; (f(x) &minus; f(baseline)), per sample; relative: |delta| / |f(x) &minus; f(baseline)|, "
                 "over the samples where that difference is not zero.</p>")
    head = ("<tr><th>domain</th><th>map per sample</th><th>max |delta|</th><th>median |delta|</th>"
            "<th>max relative</th><th>median relative</th><th>median |f(x) &minus; f(baseline)|</th>"
            "<th>median steps</th></tr>")
    rows = []
    for name, a in items.items():
        stats = _completeness(a)
        shape = "×".join(map(str, np.shape(a.values)[1:])) or "1"
        rows.append(f'<tr data-domain="{_e(name)}"><td>{_e(name)}</td><td>{_e(shape)} ({_e(", ".join(a.dims))})</td>'
                    + "".join(_num(stats[k]) for k in ("max_abs_delta", "median_abs_delta", "max_relative_delta",
                                                   "median_relative_delta", "median_output_change", "median_steps"))
                    + "</tr>")
    parts.append(f'<table class="completeness">{head}{"".join(rows)}</table>')

    # class averages
    parts.append('<h2 id="classes">Class averages</h2>')
    if y is None:
        parts.append('<p class="note">No classes known: pass y= (labels or predictions) for the maps '
                     "averaged over the samples of each class.</p>")
    else:
        classes = list(dict.fromkeys(np.sort(y).tolist()))
        counts = {c: int(np.sum(y == c)) for c in classes}
        parts.append(f'<p class="note">Mean attribution over the samples of each {_e(y_label)} '
                     f"({', '.join(f'{_e(_class_name(c, class_names))}: {counts[c]}' for c in classes)}).</p>")
        for name, a in items.items():
            means = {c: _class_mean(a, y == c) for c in classes}
            panels = {_tex_safe(f"{y_label} {_class_name(c, class_names)} (n={counts[c]})"): m
                      for c, m in means.items()}
            fig = summary(panels, 0, title=_tex_safe(f"{name}: mean attribution per {y_label}"),
                          ncols=min(len(panels), 3))
            parts.append(f'<h3>{_e(name)}</h3>' + _img(_png(fig), f"{name} averaged per {y_label}", "class-mean"))
            tables = "".join(
                _top_table(name, m, 0, top_k,
                           f"{y_label} {_class_name(c, class_names)}: top {_k(m, top_k)} of the mean map",
                           "class-top", f' data-class="{_e(c)}"')
                for c, m in means.items())
            parts.append(f'<div class="tables">{tables}</div>')

    # samples
    parts.append(f'<h2 id="samples">Samples</h2><p class="note">The first {len(shown)} of {n} samples; tables: '
                 f"the {top_k} coefficients of each domain with the largest |attribution|.</p>")
    t = np.asarray(time_map.coords.get("time", []), dtype=float) if time_map is not None else np.array([])
    t_unit = time_map.units.get("time", "") if time_map is not None else ""
    for s in shown:
        said = ([f"{y_label} {_class_name(y[s], class_names)}"] if y is not None else []) + \
            ([f"true class {_class_name(y_true[s], class_names)}"] if y_true is not None else [])
        label = f" ({_e(', '.join(said))})" if said else ""
        parts.append(f'<section class="sample" id="sample-{s}" data-sample="{s}"><h3>Sample {s}{label}</h3>')
        facts = "".join(
            f"<tr><td>{_e(name)}</td>{_num(float(np.sum(a.values[s], dtype=np.float64)), signed=True)}"
            f"{_num(float(a.output[s] - a.baseline_output[s]))}{_num(float(a.delta[s]))}</tr>"
            for name, a in items.items())
        parts.append('<table class="sample-delta"><tr><th>domain</th><th>sum of attributions</th>'
                     f"<th>f(x) &minus; f(baseline)</th><th>delta</th></tr>{facts}</table>")
        if x is not None:
            tt = t if len(t) == x.shape[-1] else np.arange(x.shape[-1], dtype=float)
            fig = _input_figure(x[s], tt, t_unit if len(t) == x.shape[-1] else "sample", f"input of sample {s}")
            parts.append(_img(_png(fig), f"input of sample {s}", "input"))
        fig = summary({_tex_safe(k): a for k, a in items.items()}, s, title=f"Sample {s}: attributions in every domain",
                      ncols=min(len(items), 3))
        parts.append(_img(_png(fig), f"attributions of sample {s}", "summary"))
        tables = "".join(_top_table(name, a, s, top_k, f"{name}: top {_k(a, top_k)}", "sample-top")
                         for name, a in items.items())
        parts.append(f'<div class="tables">{tables}</div></section>')

    page = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
    path.write_text(page, encoding="utf-8")
    return path


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


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def read_folder(folder: str | Path) -> FolderContents:
    """Read the maps (``*.npz`` Attributions) of a folder written by ``cdig demo`` or ``cdig explain``.

    Also read, when present: ``explained.npz`` (``cdig demo``: inputs ``x``, predicted classes) and
    ``summary.json`` (the order of the maps, facts about the run, and the predicted class of each
    sample when ``cdig explain`` explained the argmax). ``.npz`` files that are not Attributions are
    listed in ``ignored``.

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
    folder = Path(folder)
    if not folder.exists():
        raise CdigValueError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise CdigValueError(f"{folder}: not a folder (give the folder written by cdig demo or cdig explain)")
    summary: dict[str, Any] = {}
    summary_file = folder / "summary.json"
    if summary_file.is_file():
        try:
            summary = json.loads(summary_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise CdigValueError(f"{summary_file}: not readable JSON ({_one_line(e)})") from None
        if not isinstance(summary, dict):
            summary = {}
    order = [Path(f).stem for f in summary.get("files", []) if isinstance(f, str) and f.endswith(".npz")]
    files = sorted(folder.glob("*.npz"), key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.name))
    maps: dict[str, Attribution] = {}
    found = FolderContents(maps={})
    explained: dict[str, np.ndarray] = {}
    for f in files:
        try:
            with np.load(f, allow_pickle=False) as z:
                keys = set(z.files)
                if f.name == "explained.npz" and "meta" not in keys:
                    explained = {k: z[k] for k in z.files}
                    continue
        except Exception as e:  # noqa: BLE001 - any failure to open is the user's file, named in one line
            raise CdigValueError(f"{f}: cannot be read as an .npz file ({_one_line(e)})") from None
        if not {"meta", "values"} <= keys:
            found.ignored.append(f.name)
            continue
        try:
            maps[f.stem] = Attribution.load(f)
        except Exception as e:  # noqa: BLE001
            raise CdigValueError(f"{f}: not a readable cdig Attribution ({_one_line(e)})") from None
    if not maps:
        raise CdigValueError(f"{folder}: no maps found (expected *.npz files written by cdig demo or cdig explain, "
                             "e.g. time.npz)")
    sizes = {name: len(a.values) for name, a in maps.items()}
    if len(set(sizes.values())) > 1:
        raise CdigValueError(f"{folder}: the maps explain batches of different sizes "
                             f"({', '.join(f'{k}.npz: {v}' for k, v in sizes.items())})")
    n = next(iter(sizes.values()))
    found.maps = maps

    if explained:  # cdig demo
        if "x" in explained and len(explained["x"]) == n:
            found.x = np.asarray(explained["x"])
        for key, label in (("predicted", "predicted class"), ("y", "class")):
            if key in explained and np.ndim(explained[key]) == 1 and len(explained[key]) == n:
                found.y, found.y_label = np.asarray(explained[key]), label
                break
        if found.y_label == "predicted class" and "y" in explained and np.shape(explained["y"]) == (n,):
            found.y_true = np.asarray(explained["y"])
    target = summary.get("target")
    if found.y is None and isinstance(target, dict) and str(target.get("rule", "")).startswith("argmax"):
        per_sample = target.get("per_sample")
        if isinstance(per_sample, list) and len(per_sample) == n:  # cdig explain, target = predicted class
            found.y, found.y_label = np.asarray(per_sample), "predicted class"

    data = summary.get("data")
    if isinstance(data, dict) and isinstance(data.get("classes"), list):
        found.class_names = [str(c) for c in data["classes"]]
    info = found.info
    info["folder"] = str(folder.resolve())
    if "accuracy" in summary:
        info["held-out accuracy (cdig demo)"] = f"{float(summary['accuracy']):.3f}"
    for key, what in (("model", "model"), ("data", "data")):
        part = summary.get(key)
        if isinstance(part, dict) and "file" in part:
            info[what] = part["file"]
        elif isinstance(part, dict) and "name" in part:
            info[what] = part["name"]
    if isinstance(target, dict) and "rule" in target:
        info["target"] = target["rule"]
    elif isinstance(summary.get("explained"), dict) and "target" in summary["explained"]:
        info["target"] = summary["explained"]["target"]
    if found.ignored:
        info["ignored files"] = ", ".join(found.ignored)
    return found
