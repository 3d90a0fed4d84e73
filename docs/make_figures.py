"""Draw the figure of each domain's docs page (``docs/img/<domain>.png``).

One model, one sample, every domain: a small CNN trained for a few seconds on cdig's shipped
planted data set (the class is an 8-12 Hz burst of one independent source, 3 channels at 64 Hz),
explained for its predicted class from a zero baseline. Run from the repository root:

    python docs/make_figures.py
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.decomposition import PCA, FastICA  # noqa: E402

import cdig  # noqa: E402
from cdig.data import load_bands_sources  # noqa: E402
from cdig.demo import make_model  # noqa: E402

OUT = Path(__file__).resolve().parent / "img"


def train(x: np.ndarray, y: np.ndarray) -> torch.nn.Module:
    torch.manual_seed(0)
    model = make_model(x.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(6):
        for i in torch.randperm(len(xt)).split(32):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[i]), yt[i]).backward()
            opt.step()
    return model.eval()


def draw(att: cdig.Attribution, path: Path, title: str) -> None:
    v = att.values[0]
    dims = att.dims
    coords = att.coords
    fig = plt.figure(figsize=(8, 3.2), layout="constrained")
    if v.ndim == 1:  # one score per component / band
        ax = fig.add_subplot()
        labels = [str(c) for c in coords.get(dims[0], np.arange(len(v)))]
        ax.bar(labels, v, color=np.where(v >= 0, "#c0392b", "#2e6fb7"))
        ax.set_ylabel("attribution")
        ax.set_xlabel(dims[0])
    elif "per_level" in att.extras or (v.ndim == 2 and np.asarray(coords.get(dims[1], [0])).dtype.kind not in "fiu"):
        # channel x named groups (wavelet levels, frequency bands): grouped bars
        if "per_level" in att.extras:
            g = att.extras["per_level"][0]
            names = [str(b) for b in coords.get("band_name", range(g.shape[-1]))]
            xlabel = "wavelet band (approximation A, details D; summed over its coefficients)"
        else:
            g, names, xlabel = v, [str(c) for c in coords[dims[1]]], dims[1]
        ax = fig.add_subplot()
        width = 0.8 / g.shape[0]
        for ch in range(g.shape[0]):
            ax.bar(np.arange(g.shape[1]) + ch * width, g[ch], width, label=f"channel {ch}")
        ax.set_xticks(np.arange(g.shape[1]) + 0.4 - width / 2, names)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("attribution")
        ax.legend(fontsize=8)
    elif v.ndim == 2:  # channel x axis
        ax = fig.add_subplot()
        x = coords.get(dims[1], np.arange(v.shape[1]))
        x = np.asarray(x) if np.asarray(x).dtype.kind in "fiu" else np.arange(v.shape[1])
        for ch in range(v.shape[0]):
            ax.plot(x, v[ch], lw=1.2, label=f"{dims[0]} {ch}")
        ax.axhline(0, color="k", lw=0.5)
        unit = att.units.get(dims[1], "")
        ax.set_xlabel(f"{dims[1]}" + (f" ({unit})" if unit else ""))
        ax.set_ylabel("attribution")
        ax.legend(fontsize=8)
    elif v.ndim == 3 and dims[1] == "component":  # channel x component x axis
        parts = v.sum(axis=0)
        names = [str(c) for c in coords.get("component", range(parts.shape[0]))]
        last = np.asarray(coords.get(dims[2], np.arange(parts.shape[1])))
        axes = fig.subplots(parts.shape[0], 1, sharex=True)
        for ax, row, name in zip(np.atleast_1d(axes), parts, names):
            ax.plot(last, row, lw=1.0, color="#c0392b")
            ax.axhline(0, color="k", lw=0.5)
            ax.set_ylabel(name, fontsize=8)
        unit = att.units.get(dims[2], "")
        np.atleast_1d(axes)[-1].set_xlabel(dims[2] + (f" ({unit})" if unit else ""))
    else:  # channel x frequency x frame: a spectrogram-style heat map of the channel sum
        ax = fig.add_subplot()
        m = v.sum(axis=0)
        lim = float(np.abs(m).max()) or 1.0
        f = coords.get("frequency", np.arange(m.shape[0]))
        t = coords.get("time", np.arange(m.shape[1]))
        im = ax.pcolormesh(t, f, m, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="nearest")
        ax.set_xlabel(f"time ({att.units.get('time', '')})")
        ax.set_ylabel(f"frequency ({att.units.get('frequency', '')})")
        fig.colorbar(im, ax=ax, label="attribution")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    data = load_bands_sources()
    x, y, fs = data.X.astype(np.float32), data.y.astype(np.int64), float(data.fs)
    model = train(x[:300], y[:300])
    sample = x[300:][y[300:] == 1][:1]
    target = int(model(torch.as_tensor(sample)).argmax(1))
    pooled = x[:300].transpose(0, 2, 1).reshape(-1, x.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ica = FastICA(random_state=0, whiten="unit-variance").fit(pooled)
    domains = {
        "time": "time", "fourier": "fourier", "ica": cdig.ICA(ica), "stft": cdig.STFT(64, 16),
        "dct": cdig.DCT(), "wavelet": cdig.Wavelet("db4", level=4), "basis": cdig.LinearBasis(PCA().fit(pooled)),
        "bands": cdig.FrequencyBands({"delta": (0.5, 4), "theta": (4, 8), "alpha": (8, 13), "beta": (13, 30)}, fs=fs),
        "trend": cdig.TrendSeason(period=16), "magphase": cdig.MagnitudePhase(),
        "cepstrum": cdig.ComplexCepstrum(),
        "compose": cdig.Compose(cdig.ICA(ica), cdig.Fourier(), name="compose"),
    }
    maps = cdig.explain(model, sample, list(domains.values()), target=target, fs=fs, n_steps=64)
    for name, att in maps.items():
        rel = float(att.relative_delta[0])
        draw(att, OUT / f"{name}.png", f"{name}: class-1 sample (8-12 Hz burst), completeness error {rel:.1e}")
        print("wrote", OUT / f"{name}.png")


if __name__ == "__main__":
    main()
