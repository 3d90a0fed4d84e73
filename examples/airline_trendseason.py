"""Airline passengers: does a forecaster follow the trend or the season, at each horizon step?

A small torch forecaster reads 48 months of log passenger numbers (the Box-Jenkins airline series,
1949-1960, shipped inside sktime's wheel) and predicts the next 12. Each horizon step is explained
as its own target with the ``TrendSeason`` domain (period 12): how much of the step's forecast comes
from the window's trend, from its seasonal pattern, and from what is left.

The baseline is a flat history at the window's own mean level, so each attribution answers: how
far does this forecast move away from the one the model makes for a flat year-round history?

Run::

    python examples/airline_trendseason.py [OUT_DIR] [--quick]

Needs ``pip install 'cdig[examples]'`` (torch, matplotlib, sktime's data files).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

import cdig
from cdig.datasets.real import load_airline
from cdig.plot import plot_trend
from cdig.training import train_regressor

WINDOW, HORIZON, PERIOD = 48, 12, 12
TEST_MONTHS = 24  # the last two years are never a training target


class Forecaster(nn.Module):
    """An MLP on the window minus its mean level; the level is added back to the forecast."""

    def __init__(self, window: int = WINDOW, horizon: int = HORIZON, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(window, hidden), nn.GELU(), nn.Linear(hidden, horizon))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, window) -> (N, horizon)
        level = x.mean(dim=-1)
        return level + self.net(x - level[..., None])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="airline-trendseason", help="output folder (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for tests)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(0)

    # 1. windows of 48 months -> the next 12, in log passengers
    passengers, months = load_airline()
    series = np.log(passengers)
    starts = np.arange(len(series) - WINDOW - HORIZON + 1)
    X = np.stack([series[s : s + WINDOW] for s in starts])[:, None, :].astype(np.float32)  # (n, 1, 48)
    Y = np.stack([series[s + WINDOW : s + WINDOW + HORIZON] for s in starts]).astype(np.float32)  # (n, 12)
    is_train = starts + WINDOW + HORIZON <= len(series) - TEST_MONTHS
    test = np.flatnonzero(~is_train)
    model = Forecaster()
    epochs = 150 if args.quick else 600
    train_regressor(model, X[is_train], Y[is_train], epochs, batch_size=16, lr=3e-3, weight_decay=1e-3, seed=0)
    with torch.no_grad():
        forecast = model(torch.from_numpy(X[test])).numpy()
    ape = np.abs(np.exp(forecast) - np.exp(Y[test])) / np.exp(Y[test])
    naive = np.abs(np.exp(X[test, 0, -PERIOD:]) - np.exp(Y[test])) / np.exp(Y[test])  # repeat the last year
    mape, mape_naive = float(ape.mean()), float(naive.mean())
    print(
        f"airline: {int(is_train.sum())} training windows; on the {len(test)} test windows (targets reaching "
        f"{months[-TEST_MONTHS]}..{months[-1]}) MAPE {100 * mape:.1f}% vs {100 * mape_naive:.1f}% for "
        f"repeating the last year"
    )

    # 2. explain every horizon step of every test window with TrendSeason, baseline: a flat history
    x = torch.from_numpy(X[test])
    flat = x.mean(dim=-1, keepdim=True).expand_as(x)
    domain = cdig.TrendSeason(period=PERIOD)
    totals, deltas, maps = [], [], {}
    for h in range(HORIZON):
        att = cdig.explain(model, x, domain, target=h, baselines=flat, n_steps=16)["trend"]
        totals.append(att.extras["totals"][:, 0])  # (n, 3): trend, seasonal, residual
        deltas.append(float(np.max(np.abs(att.delta))))
        maps[h] = att
    totals = np.stack(totals, axis=1).astype(float)  # (n, horizon, 3)
    share = np.abs(totals) / np.abs(totals).sum(axis=-1, keepdims=True)
    mean_share = share.mean(axis=0)  # (horizon, 3)
    print(f"completeness: max |delta| over all steps {max(deltas):.1e} (log passengers)")
    print("step  mean attribution (log passengers): trend seasonal residual | share of |attribution|")
    for h in range(HORIZON):
        t, s_, r = totals[:, h].mean(axis=0)
        print(
            f"  +{h + 1:<3d} {t:+8.3f} {s_:+8.3f} {r:+8.3f}   | {mean_share[h, 0]:.2f} {mean_share[h, 1]:.2f} "
            f"{mean_share[h, 2]:.2f}"
        )

    # 3. files
    for h in (0, HORIZON - 1):
        maps[h].save(out / f"trend_h{h + 1}.npz")
        plot_trend(
            maps[h],
            len(test) - 1,
            title=(
                f"Forecast of {months[test[-1] + WINDOW + h]} (+{h + 1} months) from the 48 months before "
                f"{months[test[-1] + WINDOW]}: TrendSeason IG"
            ),
        ).savefig(out / f"trend_h{h + 1}.png", dpi=100)
    _share_figure(mean_share).savefig(out / "shares.png", dpi=100)
    summary = {
        "mape": mape,
        "mape_repeat_last_year": mape_naive,
        "epochs": epochs,
        "n_test_windows": int(len(test)),
        "max_abs_delta": max(deltas),
        "components": ["trend", "seasonal", "residual"],
        "mean_share_per_step": mean_share.round(4).tolist(),
        "mean_total_per_step": totals.mean(axis=0).round(5).tolist(),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")
    return summary


def _share_figure(mean_share: np.ndarray):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    ax = fig.subplots()
    steps = np.arange(1, len(mean_share) + 1)
    bottom = np.zeros(len(steps))
    for k, (name, colour) in enumerate(zip(("trend", "seasonal", "residual"), ("#2c7fb8", "#e6550d", "0.6"))):
        ax.bar(steps, mean_share[:, k], 0.8, bottom=bottom, label=name, color=colour)
        bottom += mean_share[:, k]
    ax.set_xticks(steps, [f"+{s}" for s in steps])
    ax.set_xlabel("horizon step (months ahead)")
    ax.set_ylabel("share of |attribution|")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Airline forecaster: what each horizon step is built from", fontsize=10)
    return fig


if __name__ == "__main__":
    main()
