"""ACSF1 appliance power curves: on which time scales does a CNN tell ten appliances apart?

A small 1-D CNN is trained on the ACSF1 problem of the UCR archive (power drawn by ten kinds of home
appliance, one reading every 10 s for about four hours; the file ships inside sktime's wheel, no
download). Held-out curves are explained in the Fourier domain and in named period bands
(``cdig.FrequencyBands``): the share of the attribution that falls on slow changes (periods over
half an hour), on cycles of minutes, and on the fastest flicker, set against the share of the signal's
power in the same bands.

Run::

    python examples/acsf1_fourier.py [OUT_DIR] [--quick]

Needs ``pip install 'cdig[examples]'`` (torch, matplotlib, sktime's data files).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import cdig
from cdig.datasets.real import load_ucr
from cdig.plot import plot_bands, plot_fourier
from cdig.training import make_model, train_classifier

FS = 0.1  # Hz: one reading every 10 s
HALF_BIN = 0.5 / (1460 / FS)  # half the Fourier bin spacing, Hz
# ACSF1 as distributed is a pulse train: one non-zero reading in four (every 40 s), whose height follows
# the appliance's load. Most of the power therefore sits in two spectral lines, 0.025 Hz (period 40 s)
# and 0.05 Hz (Nyquist), while the load's slow envelope lives at low frequencies (and as sidebands of
# the lines). Bands in Hz, half-open [low, high); every other bin goes to the remainder band "other".
BANDS = {
    "slow (> 5 min)": (0.0, 1 / 300),
    "80 s-5 min": (1 / 300, 1 / 80),
    "40 s line": (0.025 - HALF_BIN, 0.025 + HALF_BIN),
    "20 s line": (0.05 - HALF_BIN, 0.06),
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="acsf1-fourier", help="output folder (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="fewer epochs and explained samples (for tests)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(0)

    # 1. data and model: 100 training and 100 test curves, 10 classes, 1460 steps, z-normalised
    train, test = load_ucr("ACSF1", "train"), load_ucr("ACSF1", "test")
    model = make_model(n_channels=1, n_classes=10, width=16, n_layers=3, stride=2)
    epochs = 40 if args.quick else 150
    train_classifier(model, train.X, train.y, epochs, batch_size=16, lr=3e-3, seed=0)
    with torch.no_grad():
        predicted = model(torch.from_numpy(test.X)).argmax(dim=1).numpy()
    accuracy = float(np.mean(predicted == test.y))
    print(f"ACSF1: held-out accuracy {accuracy:.2f} over {len(test.y)} curves (chance 0.10), {epochs} epochs")

    # 2. explain the predicted class of held-out curves from the zero baseline (the curves' mean)
    pick = np.arange(0, len(test.y), 5 if args.quick else 1)
    x = torch.from_numpy(test.X[pick])
    bands = cdig.FrequencyBands(BANDS, fs=FS, remainder="other")
    maps = cdig.explain(model, x, ("time", "fourier", bands), target=predicted[pick].tolist(), fs=FS, n_steps=32)
    deltas = {name: float(np.max(att.relative_delta)) for name, att in maps.items()}
    print("completeness: max |delta| / |f(x) - f(baseline)|: " + ", ".join(f"{name} {d:.1e}" for name, d in deltas.items()))

    # 3. where the attribution lands: |attribution| per band vs the signal's power per band
    per_band = np.abs(maps["bands"].values[:, 0]).astype(float)  # (n, bands + "other")
    attribution_share = (per_band / per_band.sum(axis=1, keepdims=True)).mean(axis=0)
    freq = np.asarray(maps["fourier"].coords["frequency"])
    power = np.abs(np.fft.rfft(test.X[pick, 0], axis=-1)) ** 2
    power_share = np.stack([power[:, (freq >= lo) & (freq < hi)].sum(axis=1) for lo, hi in BANDS.values()], axis=1)
    other = power.sum(axis=1, keepdims=True) - power_share.sum(axis=1, keepdims=True)  # the remainder band
    power_share = np.concatenate([power_share, other], axis=1)
    power_share = (power_share / power_share.sum(axis=1, keepdims=True)).mean(axis=0)
    print(f"{'band':>16}  share of |attribution|  share of power")
    names = [*BANDS, "other"]
    for name, a, p in zip(names, attribution_share, power_share):
        print(f"{name:>16}  {a:21.2f}  {p:14.2f}")
    fourier = maps["fourier"].values[:, 0]
    top_hz = freq[np.argmax(np.abs(fourier), axis=1)]
    print(
        f"median frequency of the largest |Fourier attribution|: {1e3 * np.median(top_hz):.2f} mHz "
        f"(period {1 / max(np.median(top_hz), freq[1]):.0f} s)"
    )

    # 4. files: maps, figures, summary
    for name, att in maps.items():
        att.save(out / f"{name}.npz")
    show = int(np.argmax(predicted[pick] == test.y[pick]))  # the first correctly classified explained curve
    plot_fourier(
        maps["fourier"],
        show,
        title=(f"ACSF1 test curve {pick[show]} (class {test.classes[test.y[pick[show]]]}): Fourier IG of the predicted class"),
    ).savefig(out / "fourier.png", dpi=100)
    plot_bands(maps["bands"], show).savefig(out / "bands.png", dpi=100)
    _share_figure(attribution_share, power_share, names).savefig(out / "band_shares.png", dpi=100)
    summary = {
        "accuracy": accuracy,
        "epochs": epochs,
        "n_explained": int(len(pick)),
        "max_relative_delta": deltas,
        "bands": names,
        "attribution_share": attribution_share.round(4).tolist(),
        "power_share": power_share.round(4).tolist(),
        "median_top_hz": float(np.median(top_hz)),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")
    return summary


def _share_figure(attribution_share: np.ndarray, power_share: np.ndarray, names: list[str]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    ax = fig.subplots()
    pos = np.arange(len(names))
    ax.bar(pos - 0.2, attribution_share, 0.4, label="share of |attribution| (IG)", color="#c0392b")
    ax.bar(pos + 0.2, power_share, 0.4, label="share of signal power", color="0.6")
    ax.set_xticks(pos, names, fontsize=8)
    ax.set_ylabel("mean share per curve")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("ACSF1: which time scales the CNN uses vs where the power is", fontsize=10)
    return fig


if __name__ == "__main__":
    main()
