"""Write the example notebooks (without outputs) from the cells below: ``python examples/notebooks/_make.py``.

The notebooks are generated so that they stay in step with the scripts next to them; edit this
file, not the ``.ipynb`` files. ``CDIG_QUICK=1`` in the environment makes a notebook train and
explain less (the test suite runs them that way). Each notebook ends by printing one JSON line,
``RESULT {...}``, that ``tests/test_examples.py`` reads.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
%matplotlib inline
import json, os
import numpy as np
import torch
import cdig

QUICK = os.environ.get("CDIG_QUICK", "") not in ("", "0")   # CDIG_QUICK=1: a shorter run (the tests)
torch.set_num_threads(1)
torch.manual_seed(0)"""

ACSF1 = [
    new_markdown_cell("""\
# ACSF1 appliance power curves in the frequency domain

ACSF1 (UCR archive) holds the power drawn by ten kinds of home appliance — phone chargers, coffee
machines, fridges, lamps, microwaves, TVs, ... — one reading every 10 s for about four hours (1460
steps). The files ship inside sktime's wheel; `cdig.datasets.real.load_ucr` reads them offline.

We train a small CNN, explain its predicted class in the **Fourier** domain and in named **frequency
bands**, and compare where the attribution lands with where the signal's power is.
Same pipeline as `examples/acsf1_fourier.py` and `cdig demo --real`."""),
    new_code_cell(SETUP),
    new_code_cell("""\
from cdig.datasets.real import load_ucr
from cdig.demo import make_model, train_classifier

train, test = load_ucr("ACSF1", "train"), load_ucr("ACSF1", "test")
print(train.X.shape, test.X.shape, "fs =", train.fs, "Hz")

model = make_model(n_channels=1, n_classes=10, width=16, n_layers=3, stride=2)
epochs = 40 if QUICK else 150
history = train_classifier(model, train.X, train.y, epochs, batch_size=16, lr=3e-3, seed=0)
with torch.no_grad():
    predicted = model(torch.from_numpy(test.X)).argmax(dim=1).numpy()
accuracy = float(np.mean(predicted == test.y))
print(f"held-out accuracy {accuracy:.2f} (chance 0.10)")"""),
    new_markdown_cell("""\
## The spectrum of an ACSF1 curve

As distributed, every curve is a pulse train: one non-zero reading in four (every 40 s), whose
height follows the appliance's load. So most of the power sits in two spectral lines, 0.025 Hz
(period 40 s) and 0.05 Hz (Nyquist); the load's slow envelope is at low frequencies."""),
    new_code_cell("""\
print(test.X[0, 0, :12].round(2))
half_bin = 0.5 * train.fs / train.X.shape[-1]
bands = {
    "slow (> 5 min)": (0.0, 1 / 300),
    "80 s-5 min": (1 / 300, 1 / 80),
    "40 s line": (0.025 - half_bin, 0.025 + half_bin),
    "20 s line": (0.05 - half_bin, 0.06),
}"""),
    new_markdown_cell("""\
## Explain the predicted class

From the zero baseline (the curves are z-normalised, so zero is each curve's mean level), in the
time domain, the Fourier domain and the bands above — one shared pass of gradients for all three."""),
    new_code_cell("""\
pick = np.arange(0, 100, 5 if QUICK else 2)
x = torch.from_numpy(test.X[pick])
maps = cdig.explain(model, x, ("time", "fourier", cdig.FrequencyBands(bands, fs=train.fs, remainder="other")),
                    target=predicted[pick].tolist(), fs=train.fs, n_steps=32)
for name, att in maps.items():
    print(f"{name:8s} values {att.values.shape}, max relative completeness error {att.relative_delta.max():.1e}")"""),
    new_code_cell("""\
names = [*bands, "other"]
per_band = np.abs(maps["bands"].values[:, 0]).astype(float)
attribution_share = (per_band / per_band.sum(axis=1, keepdims=True)).mean(axis=0)
freq = np.asarray(maps["fourier"].coords["frequency"])
power = np.abs(np.fft.rfft(test.X[pick, 0], axis=-1)) ** 2
in_band = np.stack([power[:, (freq >= lo) & (freq < hi)].sum(axis=1) for lo, hi in bands.values()], axis=1)
in_band = np.concatenate([in_band, power.sum(axis=1, keepdims=True) - in_band.sum(axis=1, keepdims=True)], axis=1)
power_share = (in_band / in_band.sum(axis=1, keepdims=True)).mean(axis=0)
for name, a, p in zip(names, attribution_share, power_share):
    print(f"{name:>15}: {a:.2f} of |attribution|, {p:.2f} of the power")"""),
    new_code_cell("""\
from cdig.plot import plot_fourier, plot_bands

plot_fourier(maps["fourier"], 0, title=f"test curve {pick[0]}: Fourier IG of the predicted class")"""),
    new_code_cell("""\
plot_bands(maps["bands"], 0)"""),
    new_markdown_cell("""\
The attribution follows the power closely on the two lines; relative to its power, the slow
envelope gets about twice its share.

## Look into the maps: the explorer

One self-contained HTML page (it works offline): pan and zoom along a curve with its time map, hover
for each coefficient's value, switch domain, sample or class average. `cdig report FOLDER` writes
the same page beside the static report for a result folder."""),
    new_code_cell("""\
from IPython.display import IFrame
from cdig.explorer import write_explorer

page = write_explorer(maps, "acsf1_explorer.html", y=predicted[pick], y_label="predicted class",
                      title="ACSF1: Fourier and band attributions", overwrite=True)
print(f"explorer: {page.name}, {page.stat().st_size / 1e6:.1f} MB")
IFrame(page.name, width="100%", height=760)"""),
    new_code_cell("""\
result = {"accuracy": accuracy, "max_relative_delta": float(max(a.relative_delta.max() for a in maps.values())),
          "attribution_share": dict(zip(names, attribution_share.round(4).tolist())),
          "power_share": dict(zip(names, power_share.round(4).tolist())),
          "explorer_bytes": page.stat().st_size}
print("RESULT", json.dumps(result))"""),
]

AIRLINE = [
    new_markdown_cell("""\
# Airline passengers: trend or season, per horizon step

A small torch forecaster reads 48 months of log passenger numbers (Box–Jenkins airline series,
1949–1960, shipped in sktime's wheel) and predicts the next 12. We explain **each horizon step as
its own target** in the `TrendSeason` domain (period 12): how much of that step's forecast comes
from the window's trend, its seasonal pattern, and the residual.
Same pipeline as `examples/airline_trendseason.py`."""),
    new_code_cell(SETUP),
    new_code_cell("""\
from torch import nn
from cdig.datasets.real import load_airline
from cdig.demo import train_regressor

WINDOW, HORIZON, PERIOD, TEST_MONTHS = 48, 12, 12, 24
passengers, months = load_airline()
series = np.log(passengers)
starts = np.arange(len(series) - WINDOW - HORIZON + 1)
X = np.stack([series[s:s + WINDOW] for s in starts])[:, None, :].astype(np.float32)       # (n, 1, 48)
Y = np.stack([series[s + WINDOW:s + WINDOW + HORIZON] for s in starts]).astype(np.float32)  # (n, 12)
is_train = starts + WINDOW + HORIZON <= len(series) - TEST_MONTHS
test = np.flatnonzero(~is_train)
print(X.shape, Y.shape, int(is_train.sum()), "training windows,", len(test), "test windows")"""),
    new_code_cell("""\
class Forecaster(nn.Module):
    \"\"\"An MLP on the window minus its mean level; the level is added back to the forecast.\"\"\"

    def __init__(self, window=WINDOW, horizon=HORIZON, hidden=64):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(window, hidden), nn.GELU(), nn.Linear(hidden, horizon))

    def forward(self, x):
        level = x.mean(dim=-1)
        return level + self.net(x - level[..., None])


model = Forecaster()
epochs = 150 if QUICK else 600
train_regressor(model, X[is_train], Y[is_train], epochs, batch_size=16, lr=3e-3, weight_decay=1e-3, seed=0)
with torch.no_grad():
    forecast = model(torch.from_numpy(X[test])).numpy()
mape = float(np.mean(np.abs(np.exp(forecast) - np.exp(Y[test])) / np.exp(Y[test])))
mape_naive = float(np.mean(np.abs(np.exp(X[test, 0, -PERIOD:]) - np.exp(Y[test])) / np.exp(Y[test])))
print(f"test MAPE {100 * mape:.1f}% (repeating the last year: {100 * mape_naive:.1f}%)")"""),
    new_markdown_cell("""\
## One explanation per horizon step

`target=h` explains output column `h`. The baseline is a flat history at the window's own mean
level, so each map says how the forecast moves away from the one for a flat year-round history."""),
    new_code_cell("""\
x = torch.from_numpy(X[test])
flat = x.mean(dim=-1, keepdim=True).expand_as(x)
domain = cdig.TrendSeason(period=PERIOD)
maps = [cdig.explain(model, x, domain, target=h, baselines=flat, n_steps=16)["trend"] for h in range(HORIZON)]
totals = np.stack([m.extras["totals"][:, 0] for m in maps], axis=1).astype(float)  # (windows, horizon, 3)
share = (np.abs(totals) / np.abs(totals).sum(axis=-1, keepdims=True)).mean(axis=0)
max_delta = max(float(np.abs(m.delta).max()) for m in maps)
print(f"max |delta| {max_delta:.1e}")
for h in range(HORIZON):
    print(f"+{h + 1:2d} months: trend {share[h, 0]:.2f}  seasonal {share[h, 1]:.2f}  residual {share[h, 2]:.2f}")"""),
    new_code_cell("""\
from cdig.plot import plot_trend

last = len(test) - 1
plot_trend(maps[-1], last, title=f"+12 months ({months[test[last] + WINDOW + 11]}): TrendSeason IG")"""),
    new_code_cell("""\
result = {"mape": mape, "mape_repeat_last_year": mape_naive, "max_abs_delta": max_delta,
          "mean_share_per_step": share.round(4).tolist()}
print("RESULT", json.dumps(result))"""),
]


def write(name: str, cells: list) -> Path:
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )
    path = HERE / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


NOTEBOOKS = {"acsf1_fourier": ACSF1, "airline_trendseason": AIRLINE}

if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        print("wrote", write(name, cells))
