"""ECG (MIT-BIH Arrhythmia Database): what makes a beat forecaster flag the annotated anomaly?

sktime's wheel ships 20.8 s of one MIT-BIH ECG lead (360 Hz) with one annotated anomalous segment
near the end: a premature beat and the pause after it. With a single anomaly there is nothing to
train a classifier on honestly, so the model is unsupervised: a small CNN that forecasts the next
0.5 s of the ECG from the 1.5 s before it, trained on the first 18 s only. Its anomaly score is the
mean squared forecast error over those 0.5 s; the score is the model explained here. The 2 s window
with the highest score is explained in the time domain and in the STFT (64-sample frames, 5.6 Hz
bins) against a normal window: which part of the window and which frequencies drive the score?

Run::

    python examples/ecg_mitdb.py [OUT_DIR] [--quick]

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
from cdig.datasets.real import load_mitdb
from cdig.plot import plot_stft, plot_time
from cdig.training import train_regressor

PAST, FUTURE = 540, 180  # samples: 1.5 s in, 0.5 s forecast
TRAIN_END = 6500  # training windows end before this sample (the anomaly starts at 6936)


class Forecaster(nn.Module):
    """Two strided GELU convolutions and a linear read-out: 540 samples in, the next 180 out."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(1, width, 15, stride=4, padding=7),
            nn.GELU(),
            nn.Conv1d(width, width, 9, stride=4, padding=4),
            nn.GELU(),
            nn.Flatten(),
            nn.Linear(width * 34, FUTURE),
        )

    def forward(self, past: torch.Tensor) -> torch.Tensor:  # (N, 1, 540) -> (N, 180)
        return self.net(past)


class AnomalyScore(nn.Module):
    """The explained model: a whole 2 s window in, the mean squared error of forecasting its last 0.5 s out."""

    def __init__(self, forecaster: Forecaster) -> None:
        super().__init__()
        self.forecaster = forecaster

    def forward(self, window: torch.Tensor) -> torch.Tensor:  # (N, 1, 720) -> (N,)
        error = window[:, 0, PAST:] - self.forecaster(window[..., :PAST])
        return (error**2).mean(dim=1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="ecg-mitdb", help="output folder (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="fewer integration steps (for tests)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(0)

    # 1. 2 s windows every 10 samples, standardised with the training part's statistics
    signal, label, fs = load_mitdb()
    signal = (signal - signal[:TRAIN_END].mean()) / signal[:TRAIN_END].std()
    starts = np.arange(0, len(signal) - PAST - FUTURE + 1, 10)
    windows = np.stack([signal[s : s + PAST + FUTURE] for s in starts])[:, None, :].astype(np.float32)
    anomalous = np.array([label[s + PAST : s + PAST + FUTURE].any() for s in starts])  # forecast part annotated
    is_train = starts + PAST + FUTURE <= TRAIN_END

    forecaster = Forecaster()
    epochs = 30
    train_regressor(forecaster, windows[is_train, :, :PAST], windows[is_train, 0, PAST:], epochs, batch_size=16, lr=3e-3, seed=0)
    model = AnomalyScore(forecaster).eval()
    with torch.no_grad():
        score = model(torch.from_numpy(windows)).numpy()
    held_out = ~is_train
    top = int(np.argmax(np.where(held_out, score, -np.inf)))
    normal = held_out & ~anomalous
    print(
        f"MIT-BIH: {int(is_train.sum())} training windows; score on held-out normal windows: median "
        f"{np.median(score[normal]):.2f}, max {score[normal].max():.2f}; inside the annotated segment: max "
        f"{score[anomalous].max():.2f}"
    )
    print(
        f"highest-scoring window: {starts[top] / fs:.2f}-{(starts[top] + PAST + FUTURE) / fs:.2f} s "
        f"(forecast part annotated anomalous: {bool(anomalous[top])})"
    )

    # 2. explain the score of the top window and of a typical normal one, from the zero (mean-level) signal
    typical = int(np.flatnonzero(normal)[np.argsort(score[normal])[normal.sum() // 2]])
    pick = np.array([top, typical])
    maps = cdig.explain(
        model, torch.from_numpy(windows[pick]), ("time", cdig.STFT(64, 16)), target=None, fs=fs, n_steps=16 if args.quick else 32
    )
    deltas = {name: float(np.max(att.relative_delta)) for name, att in maps.items()}
    print("completeness: max |delta| / |f(x) - f(baseline)|: " + ", ".join(f"{name} {d:.1e}" for name, d in deltas.items()))
    time_map = np.abs(maps["time"].values[:, 0]).astype(float)  # (2, 720)
    future_share = time_map[:, PAST:].sum(axis=1) / time_map.sum(axis=1)
    peak_s = (starts[pick] + np.argmax(time_map, axis=1)) / fs  # seconds into the recording
    stft = np.abs(maps["stft"].values[:, 0]).astype(float).sum(axis=-1)  # (2, frequencies)
    freq = np.asarray(maps["stft"].coords["frequency"])
    above_10hz = stft[:, freq >= 10].sum(axis=1) / stft.sum(axis=1)
    spectrum = np.abs(np.fft.rfft(windows[pick, 0], axis=-1)) ** 2
    f_all = np.fft.rfftfreq(PAST + FUTURE, 1 / fs)
    power_above_10hz = spectrum[:, f_all >= 10].sum(axis=1) / spectrum.sum(axis=1)
    premature_r = (6900 + int(np.argmax(signal[6900:7200]))) / fs
    for name, i in (("top window", 0), ("normal window", 1)):
        print(
            f"  {name:13s} score {score[pick[i]]:.2f}: {future_share[i]:.2f} of |time attribution| in the "
            f"forecast 0.5 s, peak at {peak_s[i]:.2f} s; {above_10hz[i]:.2f} of |STFT attribution| at >= 10 Hz "
            f"({power_above_10hz[i]:.2f} of the power)"
        )
    print(f"  the premature beat's R peak is at {premature_r:.2f} s")

    # 3. files
    for name, att in maps.items():
        att.save(out / f"{name}.npz")
    window_label = f"{starts[top] / fs:.1f}-{(starts[top] + PAST + FUTURE) / fs:.1f} s"
    plot_time(
        maps["time"], 0, title=f"ECG window {window_label}: time-domain IG of the anomaly score (the last 0.5 s is forecast)"
    ).savefig(out / "time.png", dpi=100)
    plot_stft(maps["stft"], 0, fmax=40.0, title=f"ECG window {window_label}: STFT IG of the anomaly score").savefig(
        out / "stft.png", dpi=100
    )
    summary = {
        "score_normal_median": float(np.median(score[normal])),
        "score_normal_max": float(score[normal].max()),
        "score_anomalous_max": float(score[anomalous].max()),
        "top_window_s": float(starts[top] / fs),
        "top_is_anomalous": bool(anomalous[top]),
        "max_relative_delta": deltas,
        "future_share": future_share.round(4).tolist(),
        "peak_s": peak_s.round(3).tolist(),
        "stft_share_above_10hz": above_10hz.round(4).tolist(),
        "power_share_above_10hz": power_above_10hz.round(4).tolist(),
        "premature_r_s": premature_r,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")
    return summary


if __name__ == "__main__":
    main()
