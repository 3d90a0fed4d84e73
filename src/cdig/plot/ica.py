"""The ICA map: one bar per independent component, next to the components' time courses."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._mpl import (
    NEGATIVE,
    POSITIVE,
    UNIT,
    add_colorbar,
    axis_label,
    binned_heat,
    check_sample,
    colour_scale,
    columns,
    envelope,
    heat_line,
    new_figure,
)

__all__ = ["plot_ica"]


def plot_ica(
    att: Any,
    sample: int = 0,
    *,
    highlight: int | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Any:
    """Plot an ICA (or PCA/basis) :class:`cdig.Attribution` of one sample: component bars and time courses.

    Left, the score of each component (summed over time). Right, each component's time course
    (``att.coefficients``) with its per-time attributions (``att.extras["per_time"]``, when present)
    as a heat band behind it; a long time course as a min/max envelope with the attributions as a
    heat strip under it (see :func:`cdig.plot.plot_time`).

    Parameters
    ----------
    att : Attribution
        An ``"ica"`` map (``values`` ``(N, K)``).
    sample : int
        Which sample of the batch.
    highlight : int, optional
        A component to mark, e.g. the one matching a known source.
    title : str, optional
        Figure title.
    figsize : (float, float), optional
        Default: 10 wide, 1.3 per component.

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot; save it with ``fig.savefig("ica.png")``.

    Examples
    --------
    >>> import numpy as np, torch, cdig
    >>> from sklearn.decomposition import FastICA
    >>> from cdig.plot import plot_ica
    >>> x = np.random.default_rng(0).laplace(size=(2, 2, 64)).astype("float32")
    >>> ica = FastICA(whiten="unit-variance", random_state=0).fit(x.transpose(0, 2, 1).reshape(-1, 2))
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(128, 1))
    >>> att = cdig.explain(model, x, cdig.ICA(ica), n_steps=4)["ica"]
    >>> len(plot_ica(att, highlight=1).axes)  # bars, two time courses, colour bar
    4
    """
    s = check_sample(att, sample)
    # the same drawing serves every channel-mixing domain: ICA components, PCA/basis components
    prefix, kind = ("IC", "ICA") if att.domain == "ica" else ("C", f"{att.domain} component")
    scores = np.asarray(att.values[s], dtype=float).reshape(-1)
    k = len(scores)
    if highlight is not None and not -k <= int(highlight) < k:
        raise IndexError(f"highlight={highlight!r} is out of range for {k} components")
    courses = None if att.coefficients is None else np.asarray(att.coefficients[s], dtype=float).reshape(k, -1)
    per_time = att.extras.get("per_time")
    heat = None if per_time is None else np.asarray(per_time[s], dtype=float).reshape(k, -1)

    fig = new_figure(figsize or (10.0, 1.2 + 1.3 * k))
    rows = k if courses is not None else 1
    grid = fig.add_gridspec(rows, 2, width_ratios=(1.0, 3.0))
    bars = fig.add_subplot(grid[:, 0])
    comps = np.arange(k)
    colors = np.where(scores >= 0, POSITIVE, NEGATIVE)
    edges = ["black" if highlight is not None and c == int(highlight) % k else "none" for c in comps]
    bars.barh(comps, scores, color=colors, edgecolor=edges, linewidth=1.5)
    bars.axvline(0.0, color="black", lw=0.6)
    bars.set_yticks(comps, [f"{prefix} {c}" + (" *" if edges[c] == "black" else "") for c in comps])
    bars.invert_yaxis()
    # a perturbation method scores each component as a whole (no per-time map to sum)
    bars.set_xlabel(f"{UNIT},\nsummed over time" if per_time is not None else f"{UNIT},\nper component")
    if highlight is not None:
        bars.set_title("* marked component", fontsize=8)

    if courses is not None:
        t = np.asarray(att.coords.get("time", np.arange(courses.shape[1])), dtype=float)
        size = figsize or (10.0, 1.2 + 1.3 * k)
        max_cols = columns(size[0] * 0.75 - 1.6)  # the right three quarters, less labels and colour bar
        long = courses.shape[1] > max_cols
        scale = colour_scale(binned_heat(t, heat, max_cols)[1] if long else heat, peaks=long) if heat is not None else None
        image = None
        axes: list[Any] = []
        for c in comps:
            ax = fig.add_subplot(grid[c, 1], sharex=axes[0] if axes else None)
            if heat is not None and scale is not None:
                image = heat_line(ax, t, courses[c], heat[c], scale, max_cols)
            else:
                envelope(ax, t, courses[c], max_cols)
            ax.set_ylabel(f"{prefix} {c}" + (" *" if edges[c] == "black" else ""))
            if c < k - 1:
                ax.tick_params(labelbottom=False)
            axes.append(ax)
        axes[-1].set_xlabel(axis_label("time", att.units.get("time")))
        if image is not None and scale is not None:
            add_colorbar(fig, image, axes, scale, "attribution per time step\n(output units)", shrink=0.9)
    fig.suptitle(title or f"{kind} attributions, sample {s} (sum {float(scores.sum()):.3g})")
    return fig
