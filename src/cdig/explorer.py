"""An interactive page to look into a batch of explanations: one self-contained HTML file that works offline.

:func:`write_explorer` writes, for the maps of one batch in one or more domains, a page with

* the **time view**: the input of the chosen sample (or the mean input of a class) with the time-domain
  attribution as a heat strip under it, on one shared time axis: drag to zoom, shift-drag or the
  wheel to pan and zoom, double-click to go back;
* the **domain view**: the chosen domain's map of that sample or class, as a heat map (several rows:
  channels, components, STFT frequencies) or as bars / a line (one row); hover shows each
  coefficient's coordinates (time, frequency, band and its edges, component, wavelet level) and value;
* menus to switch **domain**, **sample** or **class average**, and **channel**, all in the page.

The data (every shown sample of every domain, and each class's mean map over *all* the samples) is
embedded as JSON with 4 significant digits; at most ``samples`` samples (default 32) are embedded,
and a long axis is reduced to buckets (a line keeps each bucket's min and max, a heat map its value of
largest ``|value|``) so that each plotted array stays under :data:`MAX_VALUES` numbers (about 2 MB).
Heat maps share one colour scale centred on zero, clipped at the 99th percentile of ``|value|`` of
what is shown (stated on the colour bar and under the plot, with the largest ``|value|``), so one
outlier does not wash the map out; scores below round-off (``|v|`` under ``1e-6`` of the map's
largest) are drawn as zero. :func:`write_explorer_folder` does the same for a folder written by
``cdig demo`` or ``cdig explain``. The static page of :func:`cdig.report.write_report` stays the one for print.

Why Plotly (``pip install 'cdig[plot]'``): its one file of JavaScript (``plotly.min.js``, read from the
Python package, about 4.8 MB) is inlined, so the page needs no network and no server, and it is all
the page needs: heat maps with colour bars, hover labels, linked zoom and pan along a shared axis,
WebGL lines (``scattergl``) for long recordings, and ``Plotly.react`` to redraw from the embedded
data when a menu changes. Bokeh's inline resources are smaller (about 1.5 MB with the widgets), but
its menus are Python-built widgets with ``CustomJS`` callbacks to keep in step across versions; here
the only Plotly API used from Python is :func:`plotly.offline.get_plotlyjs`, and from JavaScript
``Plotly.react`` with a handful of trace types (``scatter``, ``scattergl``, ``bar``, ``heatmap``) that
Plotly has kept stable for years. Plotly is MIT-licensed and released often. It is imported only
when a page is written.

>>> from cdig.explorer import write_explorer, write_explorer_folder
>>> write_explorer.__name__, write_explorer_folder.__name__
('write_explorer', 'write_explorer_folder')
"""

from __future__ import annotations

import html
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from ._files import write_atomic
from ._pages import canonical_x, check_maps, class_name, classes, input_of, positive_int
from .core.attribution import Attribution
from .core.errors import CdigValueError

__all__ = ["write_explorer", "write_explorer_folder", "MAX_VALUES"]

#: Numbers embedded per plotted array (the input, the time strip, each domain's map, over every shown
#: sample and class): beyond it, the long axis is reduced to buckets. About 2 MB of text at most.
MAX_VALUES = 200_000
#: Columns a reduced axis keeps at least (a screen's width, twice).
MIN_COLUMNS = 2048
#: One row with more columns than this is drawn as a line, not as bars.
MAX_BARS = 400
#: Scores below this fraction of the largest ``|value|`` of a map are round-off, drawn as zero.
ROUND_OFF = 1e-6
#: Red raises the explained output, blue lowers it, white is zero (as in the static report).
COLORSCALE = [[0.0, "#2166ac"], [0.25, "#67a9cf"], [0.5, "#f7f7f7"], [0.75, "#ef8a62"], [1.0, "#b2182b"]]


# --- checking what was given ------------------------------------------------------------------
def _check_path(path: str | Path, overwrite: bool) -> Path:
    path = Path(path)
    if path.is_dir():
        raise CdigValueError(f"path={str(path)!r} is a folder; give a file name, e.g. {str(path / 'explorer.html')!r}")
    if not path.parent.is_dir():
        raise CdigValueError(f"path={str(path)!r}: the folder {str(path.parent)!r} does not exist")
    if path.exists() and not overwrite:
        raise CdigValueError(f"path={str(path)!r} exists; pass overwrite=True to replace it, or choose another file")
    return path


# --- numbers as compact JSON ------------------------------------------------------------------
class _Numbers:
    """An array written into the page's JSON with 4 significant digits (``null`` for NaN and inf)."""

    def __init__(self, a: Any) -> None:
        self.a = np.asarray(a, dtype=float)

    def json(self) -> str:
        a = self.a
        if a.ndim == 0:
            return _number(float(a))
        if a.ndim == 1:
            text = np.char.mod("%.4g", a) if a.size else np.array([], dtype=str)
            if not np.isfinite(a).all():
                text = np.where(np.isfinite(a), text, "null")
            return "[" + ",".join(text.tolist()) + "]"
        return "[" + ",".join(_Numbers(row).json() for row in a) + "]"


def _number(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else "null"


def _json(obj: Any) -> str:
    """JSON of the page's data; arrays through :class:`_Numbers`. ``<`` is escaped so that no string can
    close the ``<script>`` element the data sits in."""
    if isinstance(obj, _Numbers):
        return obj.json()
    if isinstance(obj, Mapping):
        return "{" + ",".join(f"{_json(str(k))}:{_json(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(_json(v) for v in obj) + "]"
    if isinstance(obj, (bool, np.bool_)) or obj is None:
        return json.dumps(None if obj is None else bool(obj))
    if isinstance(obj, (int, np.integer)):
        return str(int(obj))
    if isinstance(obj, (float, np.floating)):
        return _number(float(obj))
    return json.dumps(str(obj), ensure_ascii=False).replace("<", "\\u003c")


def _g(v: Any) -> str:
    return f"{float(v):.4g}"


# --- long axes: buckets -------------------------------------------------------------------------
def _edges(n: int, buckets: int) -> np.ndarray:
    """Start of each of ``buckets`` nearly equal buckets of ``range(n)``."""
    return np.unique(np.linspace(0, n, buckets + 1).round().astype(int)[:-1])


def _centres(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    ends = np.append(starts[1:], len(x)) - 1
    return (x[starts] + x[ends]) / 2.0


def _peaks(m: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per bucket of the last axis, the value of largest ``|value|`` (its sign kept)."""
    hi, lo = np.maximum.reduceat(m, starts, axis=-1), np.minimum.reduceat(m, starts, axis=-1)
    return np.where(hi >= -lo, hi, lo)


def _envelope(m: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per bucket of the last axis, its min then its max: a line through them draws the envelope."""
    lo, hi = np.minimum.reduceat(m, starts, axis=-1), np.maximum.reduceat(m, starts, axis=-1)
    return np.stack([lo, hi], axis=-1).reshape(*m.shape[:-1], 2 * len(starts))


def _columns(n_cols: int, n_series: int) -> int:
    """Columns an axis of ``n_cols`` keeps when ``n_series`` rows of it are embedded."""
    return n_cols if n_cols * n_series <= MAX_VALUES else max(MIN_COLUMNS, MAX_VALUES // max(n_series, 1))


@dataclass
class _Axis:
    """One plotted axis: coordinates (numbers or names), title, hover notes, and how it was reduced."""

    values: np.ndarray
    title: str
    notes: list[str] | None = None
    starts: np.ndarray | None = None  # bucket starts when reduced
    line: bool = False  # reduced as an envelope (min, max per bucket) instead of peaks

    @property
    def numeric(self) -> bool:
        return self.values.dtype.kind in "biuf"

    def reduce(self, n_series: int, line: bool) -> _Axis:
        n = len(self.values)
        keep = _columns(n, n_series)
        if keep >= n or not self.numeric:
            return self
        starts = _edges(n, keep // 2 if line else keep)
        return _Axis(self.values.astype(float), self.title, None, starts, line)

    def shown(self) -> np.ndarray:
        if self.starts is None:
            return self.values
        c = _centres(self.values.astype(float), self.starts)
        return np.repeat(c, 2) if self.line else c

    def apply(self, m: np.ndarray) -> np.ndarray:
        if self.starts is None:
            return m
        return _envelope(m, self.starts) if self.line else _peaks(m, self.starts)

    def json(self) -> dict[str, Any]:
        shown = self.shown()
        out: dict[str, Any] = {
            "x": _Numbers(shown) if self.numeric else [str(v) for v in shown],
            "title": self.title,
            "numeric": self.numeric,
        }
        if self.notes is not None and self.starts is None:
            out["notes"] = self.notes
        if self.starts is not None:
            how = "min and max" if self.line else "value of largest |value|"
            out["reduced"] = f"{len(self.values):,} points shown as {len(self.starts):,} buckets ({how} of each)"
        return out


def _axis_title(dim: str, unit: str) -> str:
    if not unit:
        return dim
    return f"{dim} ({'samples' if unit == 'sample' else unit})"


def _axis(att: Attribution, axis: int, n: int) -> _Axis:
    """Axis ``axis`` of a map (sample axis excluded), of length ``n``: its coordinates, title and hover notes."""
    dim = att.dims[axis] if axis < len(att.dims) else f"axis {axis}"
    c = att.coords.get(dim)
    c = np.asarray(c) if c is not None else None
    if c is None or c.ndim != 1 or len(c) != n or c.dtype.kind not in "biufUSO":
        return _Axis(np.arange(n), dim, _axis_notes(att, dim, n))
    if c.dtype.kind in "USO":
        return _Axis(np.asarray([str(v) for v in c]), dim, _axis_notes(att, dim, n))
    return _Axis(c, _axis_title(dim, att.units.get(dim, "")), _axis_notes(att, dim, n))


def _axis_notes(att: Attribution, dim: str, n: int) -> list[str] | None:
    """Hover notes per coordinate: a band's edges, a wavelet coefficient's level and time."""
    co = att.coords
    if dim == "band" and "band_low" in co and "band_high" in co and len(co["band_low"]) == n:
        unit = att.units.get("band_low", "")
        return [
            f"{_g(lo)}-{_g(hi)} {unit}".strip() if np.isfinite(lo) and np.isfinite(hi) else "the rest of the spectrum"
            for lo, hi in zip(np.asarray(co["band_low"], float), np.asarray(co["band_high"], float))
        ]
    if dim == "coefficient" and "band" in co and "band_name" in co and len(co["band"]) == n:
        names, band = np.asarray(co["band_name"]), np.asarray(co["band"]).astype(int)
        t = np.asarray(co["time"], float) if "time" in co and len(co["time"]) == n else None
        unit = att.units.get("time", "")
        unit = "" if unit in ("", "sample") else f" {unit}"
        return [
            (str(names[b]) if 0 <= b < len(names) else f"band {b}") + (f" at {_g(t[i])}{unit}" if t is not None else "")
            for i, b in enumerate(band)
        ]
    return None


def _label(axis: _Axis, i: int) -> str:
    v = axis.values[i]
    return str(v) if not axis.numeric else f"{axis.title.split(' (')[0]} {_g(v)}"


# --- what is shown: views (samples and class means), panels of each domain ---------------------
@dataclass
class _View:
    label: str
    kind: str  # "sample" or "class"
    select: np.ndarray  # boolean mask over the batch (one sample, or a class)


def _views(n: int, samples: int, y: np.ndarray | None, y_true: np.ndarray | None, class_names: Any, y_label: str) -> list[_View]:
    out = []
    for s in range(min(samples, n)):
        said = ([f"{y_label} {class_name(y[s], class_names)}"] if y is not None else []) + (
            [f"true {class_name(y_true[s], class_names)}"] if y_true is not None else []
        )
        out.append(_View(f"sample {s}" + (f" ({', '.join(said)})" if said else ""), "sample", np.arange(n) == s))
    if y is not None:
        for c in dict.fromkeys(np.sort(y).tolist()):
            sel = y == c
            out.append(_View(f"{y_label} {class_name(c, class_names)}: mean of {int(sel.sum())}", "class", sel))
    return out


def _view_values(values: np.ndarray, views: Sequence[_View]) -> list[np.ndarray]:
    return [values[v.select].mean(axis=0) for v in views]


def _lims(m: np.ndarray) -> dict[str, float]:
    """The colour limit of a heat map: the 99th percentile of ``|value|`` (``clip``) and the largest (``max``)."""
    a = np.abs(m[np.isfinite(m)])
    if not a.size:
        return {"clip": 1.0, "max": 0.0}
    top = float(a.max())
    clip = float(np.percentile(a, 99))
    return {"clip": clip if clip > 0 else (top if top > 0 else 1.0), "max": top}


def _no_round_off(m: np.ndarray) -> np.ndarray:
    finite = np.isfinite(m)
    top = float(np.abs(m[finite]).max()) if finite.any() else 0.0
    return np.where(np.abs(m) <= ROUND_OFF * top, 0.0, m) if top > 0 else m


@dataclass
class _Panel:
    """One plot of a domain: rows (y) by columns (x); ``take`` picks its matrix out of one view's map."""

    title: str
    rows: _Axis
    cols: _Axis
    take: Any
    kind: str = "heatmap"


def _panels(att: Attribution, shape: tuple[int, ...]) -> list[_Panel]:
    """How one map is drawn: one row (bars or a line), rows by columns (a heat map), or one heat map per
    entry of the first axis when the last two are both numeric (an STFT: frequency by time)."""
    nd = len(shape)
    if nd == 0:
        return [_Panel("", _Axis(np.asarray([""]), ""), _Axis(np.asarray([att.domain]), ""), lambda v: v.reshape(1, 1), "bars")]
    axes = [_axis(att, i, n) for i, n in enumerate(shape)]
    if nd == 1:
        return [_Panel("", _Axis(np.asarray([""]), ""), axes[0], lambda v: v.reshape(1, -1), "")]
    if nd == 3 and axes[1].numeric and axes[2].numeric and not axes[1].notes:
        return [_Panel(_label(axes[0], i), axes[1], axes[2], lambda v, i=i: v[i], "heatmap") for i in range(shape[0])]
    lead = [[_label(a, i) for i in range(n)] for a, n in zip(axes[:-1], shape[:-1])]
    names = [" · ".join(p) for p in itertools.product(*lead)]
    title = " · ".join(a.title.split(" (")[0] for a in axes[:-1])
    rows = _Axis(np.asarray(names, dtype=str), title)
    return [_Panel("", rows, axes[-1], lambda v: v.reshape(-1, shape[-1]), "" if len(names) == 1 else "heatmap")]


def _domain_data(name: str, att: Attribution, views: Sequence[_View]) -> dict[str, Any]:
    values = np.asarray(att.values)
    notes = []
    if np.iscomplexobj(values):
        values, notes = values.real, ["complex map: its real part is shown"]
    values = values.astype(float)
    per_view = [_no_round_off(m) for m in _view_values(values, views)]
    panels = []
    plan = _panels(att, values.shape[1:])
    for p in plan:
        rows = len(p.rows.values)
        kind = p.kind or ("bars" if len(p.cols.values) <= MAX_BARS or not p.cols.numeric else "line")
        cols = p.cols.reduce(len(views) * rows * len(plan), line=kind == "line")
        mats = [cols.apply(np.asarray(p.take(m), dtype=float)) for m in per_view]
        panels.append(
            {
                "title": p.title,
                "kind": kind,
                "x": cols.json(),
                "y": {"y": _Numbers(p.rows.values) if p.rows.numeric else [str(v) for v in p.rows.values], "title": p.rows.title},
                "values": [_Numbers(m) for m in mats],
                "lims": [_lims(m) for m in mats],
            }
        )
    return {"notes": notes, "panels": panels}


# --- the time view: input and time-domain attribution, one channel at a time -----------------------
def _time_data(
    items: Mapping[str, Attribution], x: np.ndarray | None, views: Sequence[_View]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[str]]:
    time_map = next((a for a in items.values() if a.domain == "time" and np.ndim(a.values) in (2, 3)), None)
    strip_values = None
    if time_map is not None:
        v = np.asarray(time_map.values)
        v = (v.real if np.iscomplexobj(v) else v).astype(float)
        strip_values = v[:, None, :] if v.ndim == 2 else v
    if x is None and strip_values is None:
        return None, None, []
    T = (x if x is not None else strip_values).shape[-1]  # type: ignore[union-attr]
    if x is not None and strip_values is not None and strip_values.shape[-1] != T:
        strip_values = None  # the map is not of this input (a different length): no strip
    source = time_map if time_map is not None else next((a for a in items.values() if "time" in a.coords), None)
    t = np.asarray(source.coords.get("time", []), dtype=float) if source is not None else np.array([])
    unit = source.units.get("time", "") if source is not None else ""
    if len(t) != T:
        t, unit = np.arange(T, dtype=float), "sample"
    axis = _Axis(t, _axis_title("time", unit))
    n_channels = (x if x is not None else strip_values).shape[1]  # type: ignore[union-attr]
    channels = [f"channel {c}" for c in range(n_channels)]
    if time_map is not None:
        ch = np.asarray(time_map.coords.get("channel", []))
        if ch.ndim == 1 and len(ch) == n_channels:
            channels = [str(c) if ch.dtype.kind in "USO" else f"channel {c}" for c in ch]
    signal = strip = None
    if x is not None:
        line = axis.reduce(len(views) * n_channels, line=True)
        signal = {
            "axis": line.json(),
            "values": [_Numbers(line.apply(m)) for m in _view_values(x, views)],
        }
    if strip_values is not None:
        heat = axis.reduce(len(views) * strip_values.shape[1], line=False)
        mats = [heat.apply(_no_round_off(m)) for m in _view_values(strip_values, views)]
        strip = {
            "axis": heat.json(),
            "values": [_Numbers(m) for m in mats],
            "lims": [[_lims(row) for row in m] for m in mats],
        }
    return signal, strip, channels


# --- the page -----------------------------------------------------------------------------------
def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as e:
        raise ImportError("the explorer needs plotly (its JavaScript is inlined in the page): pip install 'cdig[plot]'") from e
    return get_plotlyjs().replace("</script", "<\\/script")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1em auto;max-width:1400px;
padding:0 1em;color:#222;line-height:1.4}h1{font-size:1.5em;margin:.2em 0}
.controls{display:flex;flex-wrap:wrap;gap:1em;align-items:center;padding:.6em;background:#f4f4f4;
border-radius:4px;position:sticky;top:0;z-index:10}.controls label{font-weight:600}
select,button{font-size:1em;padding:.15em .3em}.plot{width:100%;min-height:300px}
.note{color:#555;font-size:.9em;margin:.3em 0}table.info{border-collapse:collapse;font-size:.9em;margin:.4em 0}
.info th,.info td{border:1px solid #ddd;padding:.2em .6em;text-align:left}.info th{background:#f4f4f4}
""".strip()

_APP_JS = r"""
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("cdig-data").textContent);
  const $ = (id) => document.getElementById(id);
  const CONFIG = {responsive: true, displaylogo: false, scrollZoom: true};
  const GL = (function () {
    try {
      const c = document.createElement("canvas");
      return !!(window.WebGLRenderingContext && (c.getContext("webgl") || c.getContext("experimental-webgl")));
    } catch (e) { return false; }
  })();
  const state = {domain: D.domains.length ? 0 : -1, view: 0, channel: 0};
  const fmt = (v) => (v === null ? "n/a" : Number(v).toPrecision(3));
  const lineType = (n) => (GL && n > 5000 ? "scattergl" : "scatter");
  const colorbar = (lim) => ({
    thickness: 12, len: 0.9, title: {text: "attribution", side: "top"},
    tickvals: [-lim.clip, -lim.clip / 2, 0, lim.clip / 2, lim.clip],
    ticktext: ["≤ " + fmt(-lim.clip), fmt(-lim.clip / 2), "0", fmt(lim.clip / 2), "≥ " + fmt(lim.clip) + " (p99)"],
  });
  const clipNote = (what, lim) => what + " colours clipped at ±" + fmt(lim.clip) + ", the 99th percentile of |value|"
    + (lim.max > lim.clip ? " (largest |value| " + fmt(lim.max) + ")." : ".");
  function option(select, text, value) { select.add(new Option(text, String(value))); }
  function setNote(id, lines) { $(id).textContent = lines.filter(Boolean).join(" "); }

  function fillMenus() {
    D.domains.forEach((d, i) => option($("domain"), d.name, i));
    const groups = {sample: "samples", class: "class averages"};
    for (const kind of ["sample", "class"]) {
      const g = document.createElement("optgroup");
      g.label = groups[kind];
      D.views.forEach((v, i) => { if (v.kind === kind) { const o = new Option(v.label, String(i)); g.appendChild(o); } });
      if (g.children.length) $("view").appendChild(g);
    }
    D.channels.forEach((c, i) => option($("channel"), c, i));
    $("channel-box").style.display = D.channels.length > 1 ? "" : "none";
    $("domain-box").style.display = D.domains.length ? "" : "none";
  }

  function drawTime() {
    const sig = D.signal, strip = D.strip, v = D.views[state.view], c = state.channel;
    if (!sig && !strip) { $("time-box").style.display = "none"; return; }
    const axis = (sig || strip).axis, traces = [];
    const layout = {
      uirevision: "time", margin: {l: 70, r: 40, t: 40, b: 50}, showlegend: false, hovermode: "closest",
      title: {text: (v.kind === "class" ? "mean input, " : "input, ") + v.label
                    + (D.channels.length > 1 ? ", " + D.channels[c] : ""), font: {size: 14}},
      xaxis: {title: {text: axis.title}, anchor: strip ? "y2" : "y"},
    };
    if (sig) {
      const y = sig.values[state.view][c];
      traces.push({type: lineType(y.length), mode: "lines", x: sig.axis.x, y: y, line: {color: "#222", width: 1},
                   hovertemplate: axis.title + " %{x}<br>input %{y:.4g}<extra></extra>"});
      layout.yaxis = {title: {text: "input"}, domain: strip ? [0.3, 1] : [0, 1]};
    }
    if (strip) {
      const lim = strip.lims[state.view][c];
      traces.push({type: "heatmap", x: strip.axis.x, y: ["attribution"], z: [strip.values[state.view][c]],
                   zmin: -lim.clip, zmax: lim.clip, colorscale: D.colorscale, colorbar: colorbar(lim),
                   xaxis: "x", yaxis: sig ? "y2" : "y",
                   hovertemplate: axis.title + " %{x}<br>time attribution %{z:.4g}<extra></extra>"});
      const strip_axis = {domain: sig ? [0, 0.2] : [0, 1], fixedrange: true, showticklabels: false,
                          title: {text: "time map"}};
      if (sig) layout.yaxis2 = strip_axis; else layout.yaxis = strip_axis;
    }
    Plotly.react("timeplot", traces, layout, CONFIG);
    setNote("time-note", [strip ? clipNote("Time map:", strip.lims[state.view][c]) : "",
                          sig && sig.axis.reduced ? "Input: " + sig.axis.reduced + "." : "",
                          strip && strip.axis.reduced ? "Time map: " + strip.axis.reduced + "." : "",
                          strip ? "" : "No time-domain map: the strip is missing (explain in \"time\" too)."]);
  }

  function drawDomain() {
    if (state.domain < 0) { $("domain-view").style.display = "none"; return; }
    const d = D.domains[state.domain], v = D.views[state.view];
    const pi = d.panels.length > 1 ? Math.min(state.channel, d.panels.length - 1) : 0;
    const p = d.panels[pi], m = p.values[state.view], lim = p.lims[state.view], x = p.x;
    const xt = x.title || d.name, yt = p.y.title;
    const notes = x.notes ? x.notes : null;
    let trace;
    if (p.kind === "heatmap") {
      trace = {type: "heatmap", x: x.x, y: p.y.y, z: m, zmin: -lim.clip, zmax: lim.clip, colorscale: D.colorscale,
               colorbar: colorbar(lim),
               hovertemplate: (yt ? yt + " %{y}<br>" : "") + xt + " %{x}" + (notes ? " (%{customdata})" : "")
                 + "<br>attribution %{z:.4g}<extra></extra>"};
      if (notes) trace.customdata = m.map(() => notes);
    } else if (p.kind === "bars") {
      trace = {type: "bar", x: x.x, y: m[0], marker: {color: m[0].map((z) => (z >= 0 ? "#b2182b" : "#2166ac"))},
               hovertemplate: xt + " %{x}" + (notes ? " (%{customdata})" : "") + "<br>attribution %{y:.4g}<extra></extra>"};
      if (notes) trace.customdata = notes;
    } else {
      trace = {type: lineType(m[0].length), mode: "lines", x: x.x, y: m[0], line: {color: "#444", width: 1},
               hovertemplate: xt + " %{x}<br>attribution %{y:.4g}<extra></extra>"};
    }
    const layout = {
      uirevision: d.name + "/" + pi, margin: {l: 150, r: 30, t: 40, b: 60}, hovermode: "closest",
      title: {text: d.name + ": " + v.label + (p.title ? ", " + p.title : ""), font: {size: 14}},
      xaxis: {title: {text: xt}, type: x.numeric ? "linear" : "category"},
      yaxis: p.kind === "heatmap" ? {title: {text: yt}, type: p.y.numeric ? "linear" : "category", automargin: true,
                                     autorange: p.y.numeric ? true : "reversed"}
                                  : {title: {text: "attribution"}, zeroline: true},
    };
    Plotly.react("domainplot", [trace], layout, CONFIG);
    setNote("domain-note", [p.kind === "heatmap" ? clipNote("Heat map:", lim) : "",
                            ...d.notes.map((s) => s + "."), x.reduced ? x.reduced + "." : "",
                            d.panels.length > 1 ? "One plot per channel: the channel menu picks it." : ""]);
  }

  function draw() { drawTime(); drawDomain(); }
  function step(by) {
    const n = D.views.length;
    state.view = (state.view + by + n) % n;
    $("view").value = String(state.view);
    draw();
  }

  fillMenus();
  $("domain").addEventListener("change", (e) => { state.domain = Number(e.target.value); drawDomain(); });
  $("view").addEventListener("change", (e) => { state.view = Number(e.target.value); draw(); });
  $("channel").addEventListener("change", (e) => { state.channel = Number(e.target.value); draw(); });
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  draw();
  document.body.setAttribute("data-ready", "true");
})();
"""


def _page(title: str, js: str, data: Mapping[str, Any], info: Mapping[str, Any] | None, notes: Sequence[str]) -> str:
    e = lambda s: html.escape(str(s), quote=True)
    info_rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in (info or {}).items())
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="cdig {e(__version__)} explorer">'
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{e(title)}</h1>\n" + (f'<table class="info">{info_rows}</table>\n' if info_rows else "") + '<div class="controls">'
        '<span id="domain-box"><label for="domain">Domain</label> <select id="domain"></select></span>'
        '<span><label for="view">Sample or class</label> <button id="prev" title="previous">&#9664;</button>'
        '<select id="view"></select><button id="next" title="next">&#9654;</button></span>'
        '<span id="channel-box"><label for="channel">Channel</label> <select id="channel"></select></span>'
        "</div>\n"
        '<section id="time-box"><div id="timeplot" class="plot" style="height:380px"></div>'
        '<p class="note" id="time-note"></p></section>\n'
        '<section id="domain-view"><div id="domainplot" class="plot" style="height:460px"></div>'
        '<p class="note" id="domain-note"></p></section>\n'
        + "".join(f'<p class="note">{e(n)}</p>' for n in notes)
        + f"\n<script>{js}</script>\n"
        f'<script type="application/json" id="cdig-data">{_json(data)}</script>\n'
        f"<script>{_APP_JS}</script>\n</body></html>\n"
    )


def write_explorer(
    maps: Any,
    path: str | Path,
    *,
    x: Any = None,
    y: Any = None,
    class_names: Any = None,
    y_label: str = "class",
    y_true: Any = None,
    samples: int = 32,
    title: str = "cdig explorer",
    info: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write one self-contained, interactive HTML page to look into a batch of explanations.

    Parameters
    ----------
    maps : dict of str to Attribution, sequence of Attribution, or Attribution
        The maps of one batch (e.g. the result of :func:`cdig.explain`); every map has the same samples.
    path : str or Path
        The HTML file to write (its folder must exist).
    x : array-like, optional
        The explained inputs, as given to :func:`cdig.explain` (numpy or a tensor; (N, C, T), (N, T) or
        the layout the maps' ``time_axis`` names). Default: the time-domain map's coefficients when
        there is one (they are the input); no input plot otherwise.
    y : array-like of shape (N,), optional
        The class of each sample (true labels or predictions): adds each class's mean map (over all
        N samples) to the sample menu and names each sample's class.
    class_names : sequence or dict, optional
        Names of the classes, indexed by the values of ``y``.
    y_label : str
        What ``y`` is, shown on the page (e.g. ``"predicted class"``).
    y_true : array-like of shape (N,), optional
        The true class of each sample, shown beside ``y`` when ``y`` holds predictions.
    samples : int
        How many samples (the first ones) are embedded, each with its maps: they set the file's size.
    title : str
    info : dict, optional
        Facts about the run shown in a table under the title (e.g. the model and data files).
    overwrite : bool
        Replace ``path`` when it exists (else an error, before any work).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    cdig.CdigValueError
        For empty maps, maps of different batch sizes, ``x``, ``y`` or ``y_true`` not matching the batch,
        ``samples`` not a positive integer, or ``path`` a folder, in a missing folder, or an existing file
        without ``overwrite``.
    cdig.CdigTypeError
        When ``maps`` holds something else than Attributions.
    ImportError
        When plotly is missing (``pip install 'cdig[plot]'``).

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from cdig import Attribution
    >>> a = Attribution(np.array([[0.5, -2.0, 1.0], [1.0, 0.0, 0.0]]), "ica", ("component",),
    ...                 {"component": np.arange(3)}, np.zeros(2), np.array([1.5, 1.0]), np.zeros(2), np.array([8, 8]))
    >>> p = write_explorer({"ica": a}, os.path.join(tempfile.mkdtemp(), "explorer.html"), y=[1, 0])
    >>> text = p.read_text(encoding="utf-8")
    >>> "https://" in text.split('id="cdig-data"')[1], '"class 1: mean of 1"' in text
    (False, True)
    """
    items = check_maps(maps, "the explorer")
    samples = positive_int("samples", samples)
    path = _check_path(path, overwrite)
    first = next(iter(items.values()))
    n = len(first.values)
    y_arr, y_true_arr = classes("y", y, n), classes("y_true", y_true, n)
    x_arr = canonical_x(x, n, first.settings.get("time_axis")) if x is not None else input_of(items)
    js = _plotly_js()  # before the work: a missing plotly fails at once

    views = _views(n, samples, y_arr, y_true_arr, class_names, str(y_label))
    signal, strip, channels = _time_data(items, x_arr, views)
    domains = [{"name": name, **_domain_data(name, a, views)} for name, a in items.items()]
    shown = sum(v.kind == "sample" for v in views)
    notes = [
        f"{n} explained sample(s) in {len(items)} domain(s): {', '.join(items)}; "
        + (
            f"the first {shown} are embedded (pass samples= for more; class averages use all {n})."
            if shown < n
            else "all are embedded."
        ),
        "Attributions are in the model output's units: red raises the explained output, blue lowers it. Heat maps "
        "are clipped at the 99th percentile of |value| of what is shown (the colour bar says where, and the largest "
        f"|value|); scores under {ROUND_OFF:g} of a map's largest |value| (round-off) are drawn as zero. Values are "
        "stored with 4 significant digits.",
        "Drag to zoom, double-click to zoom out, the wheel to zoom, shift-drag to pan; hover for values. "
        f"Written by cdig {__version__}; the static report (cdig report) is the page for print.",
    ]
    data = {
        "title": title,
        "views": [{"label": v.label, "kind": v.kind} for v in views],
        "channels": channels or ["channel 0"],
        "signal": signal,
        "strip": strip,
        "domains": domains,
        "colorscale": COLORSCALE,
    }
    # written beside and renamed: a failed write (a full disk) leaves no half page and the old one intact
    return write_atomic(path, _page(title, js, data, info, notes))


def write_explorer_folder(
    folder: str | Path,
    path: str | Path | None = None,
    *,
    samples: int = 32,
    title: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the explorer of a result folder written by ``cdig demo`` or ``cdig explain``.

    Reads the folder with :func:`cdig.report.read_folder` (maps, inputs, classes, class names, facts
    about the run) and calls :func:`write_explorer`.

    Parameters
    ----------
    folder : str or Path
    path : str or Path, optional
        The page; default ``folder / "explorer.html"``.
    samples, overwrite
        As in :func:`write_explorer`.
    title : str, optional
        Default: ``"cdig explorer: <folder name>"``.

    Returns
    -------
    Path
        The page written.

    Raises
    ------
    cdig.CdigValueError
        When ``folder`` is not a folder or holds no maps, or for the errors of :func:`write_explorer`;
        ``path`` is checked before the folder is read.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from pathlib import Path
    >>> from cdig import Attribution
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = Attribution(np.ones((2, 3)), "ica", ("component",), {"component": np.arange(3)}, np.zeros(2),
    ...                 np.ones(2), np.zeros(2), np.array([8, 8])).save(d / "ica.npz")
    >>> write_explorer_folder(d).name
    'explorer.html'
    """
    from .report import read_folder

    folder = Path(folder)
    if not folder.is_dir():
        raise CdigValueError(f"folder={str(folder)!r} is not a folder; give the folder written by cdig demo or cdig explain")
    page = _check_path(folder / "explorer.html" if path is None else path, overwrite)
    found = read_folder(folder)
    return write_explorer(
        found.maps,
        page,
        x=found.x,
        y=found.y,
        class_names=found.class_names,
        y_label=found.y_label,
        y_true=found.y_true,
        samples=samples,
        title=title if title is not None else f"cdig explorer: {folder.resolve().name}",
        info=found.info,
        overwrite=overwrite,
    )
