"""Draw the figure of each domain's docs page (``docs/img/<domain>.png``).

One model, one sample, every domain: a small CNN trained for a few seconds on cdig's shipped
planted data set (the class is an 8-12 Hz burst of one independent source, 3 channels at 64 Hz),
explained for its predicted class from a zero baseline. Run from the repository root:

    python docs/make_figures.py
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA, FastICA

import cdig
from cdig.datasets import load_bands_sources
from cdig.demo import make_model
from cdig.plot import summary

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
    """The library's figure of ``att`` (its domain's plotter), saved at ``path``."""
    fig = att.plot(0, title=title)
    fig.savefig(path, dpi=90)


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
        "time": "time",
        "fourier": "fourier",
        "ica": cdig.ICA(ica),
        "stft": cdig.STFT(64, 16),
        "dct": cdig.DCT(),
        "wavelet": cdig.Wavelet("db4", level=4),
        "basis": cdig.LinearBasis(PCA().fit(pooled)),
        "bands": cdig.FrequencyBands({"delta": (0.5, 4), "theta": (4, 8), "alpha": (8, 13), "beta": (13, 30)}, fs=fs),
        "trend": cdig.TrendSeason(period=16),
        "magphase": cdig.MagnitudePhase(),
        "cepstrum": cdig.ComplexCepstrum(),
        "compose": cdig.Compose(cdig.ICA(ica), cdig.Fourier(), name="compose"),
    }
    maps = cdig.explain(model, sample, list(domains.values()), target=target, fs=fs, n_steps=64)
    for name, att in maps.items():
        rel = float(att.relative_delta[0])
        draw(att, OUT / f"{name}.png", f"{name}: class-1 sample (8-12 Hz burst), completeness error {rel:.1e}")
        print("wrote", OUT / f"{name}.png")
    summary(maps, title="One class-1 sample in every domain").savefig(OUT / "summary.png", dpi=80)
    print("wrote", OUT / "summary.png")


if __name__ == "__main__":
    main()
