"""BasicMotions (smart-watch accelerometer and gyroscope): which independent components decide the activity?

A small 1-D CNN is trained on the BasicMotions problem of the UEA archive (six channels — a 3-D
accelerometer and a 3-D gyroscope, in the file's order — sampled at 10 Hz for 10 s; four activities:
standing, running, walking, badminton; the files ship inside sktime's wheel). FastICA, fitted on the
training recordings pooled over time, unmixes the six channels into six independent components, and
the predicted activity of each held-out recording is explained per component (``cdig.ICA``). Each
component is described by the sensor it loads on (its column of the mixing matrix).

Run::

    python examples/basicmotions_ica.py [OUT_DIR] [--quick]

Needs ``pip install 'cdig[examples]'`` (torch, scikit-learn, matplotlib, sktime's data files).
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import FastICA

import cdig
from cdig.datasets.real import load_ucr
from cdig.plot import plot_ica
from cdig.training import make_model, train_classifier

CHANNELS = ("acc x", "acc y", "acc z", "gyro x", "gyro y", "gyro z")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="basicmotions-ica", help="output folder (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="fewer epochs and explained samples (for tests)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(0)

    # 1. data (40 + 40 recordings, 6 x 100), standardised per channel with the training statistics
    train, test = load_ucr("BasicMotions", "train"), load_ucr("BasicMotions", "test")
    mean = train.X.mean(axis=(0, 2), keepdims=True)
    std = train.X.std(axis=(0, 2), keepdims=True)
    X_train, X_test = (train.X - mean) / std, (test.X - mean) / std
    model = make_model(n_channels=6, n_classes=4, width=16)
    epochs = 30 if args.quick else 60
    train_classifier(model, X_train, train.y, epochs, batch_size=8, lr=3e-3, seed=0)
    with torch.no_grad():
        predicted = model(torch.from_numpy(X_test)).argmax(dim=1).numpy()
    accuracy = float(np.mean(predicted == test.y))
    print(f"BasicMotions: held-out accuracy {accuracy:.2f} over {len(test.y)} recordings (chance 0.25)")

    # 2. FastICA on the training recordings pooled over time: 6 components
    pooled = X_train.transpose(0, 2, 1).reshape(-1, 6).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastICA's convergence chatter
        ica = FastICA(whiten="unit-variance", random_state=0, max_iter=1000).fit(pooled)
    mixing = ica.mixing_ / np.abs(ica.mixing_).sum(axis=0, keepdims=True)  # column k: IC k's weight per channel
    described = []
    for k in range(6):
        first, second = np.argsort(-np.abs(mixing[:, k]))[:2]
        described.append(
            f"IC {k}: {CHANNELS[first]} {100 * abs(mixing[first, k]):.0f}% + "
            f"{CHANNELS[second]} {100 * abs(mixing[second, k]):.0f}%"
        )

    # 3. explain the predicted activity per component, from the zero baseline (the training mean)
    pick = np.arange(0, len(test.y), 4 if args.quick else 1)
    maps = cdig.explain(
        model, torch.from_numpy(X_test[pick]), ("time", cdig.ICA(ica)), target=predicted[pick].tolist(), fs=train.fs, n_steps=32
    )
    deltas = {name: float(np.max(att.relative_delta)) for name, att in maps.items()}
    print("completeness: max |delta| / |f(x) - f(baseline)|: " + ", ".join(f"{name} {d:.1e}" for name, d in deltas.items()))
    scores = maps["ica"].values  # (n, 6)
    per_class = {}
    for c, name in enumerate(test.classes):
        rows = predicted[pick] == c
        if rows.any():
            mean_scores = scores[rows].mean(axis=0)
            top = int(np.argmax(mean_scores))
            per_class[name] = {"n": int(rows.sum()), "mean_scores": mean_scores.round(4).tolist(), "top": top}
            print(
                f"  predicted {name:<9} ({int(rows.sum()):2d}): top component {described[top]}, "
                f"mean score {mean_scores[top]:.2f} of {mean_scores.sum():.2f}"
            )
    sensor_share = np.abs(mixing[:3]).sum(axis=0)  # accelerometer share per IC
    acc_share = float(np.mean((np.abs(scores) @ sensor_share) / np.abs(scores).sum(axis=1)))
    print(f"share of |ICA attribution| on accelerometer-weighted components: {acc_share:.2f}")

    # 4. files
    for name, att in maps.items():
        att.save(out / f"{name}.npz")
    show = int(np.argmax((test.y[pick] == test.classes.index("Running")) & (predicted[pick] == test.y[pick])))
    top = int(np.argmax(scores[show]))
    plot_ica(
        maps["ica"],
        show,
        highlight=top,
        title=(f"BasicMotions test recording {pick[show]} ({test.classes[test.y[pick[show]]]}): ICA IG; top {described[top]}"),
    ).savefig(out / "ica.png", dpi=100)
    _class_figure(per_class, described).savefig(out / "ica_per_class.png", dpi=100)
    summary = {
        "accuracy": accuracy,
        "epochs": epochs,
        "n_explained": int(len(pick)),
        "max_relative_delta": deltas,
        "components": described,
        "per_class": per_class,
        "accelerometer_share": acc_share,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")
    return summary


def _class_figure(per_class: dict, described: list[str]):
    from matplotlib.figure import Figure

    names = list(per_class)
    m = np.array([per_class[n]["mean_scores"] for n in names])
    vmax = float(np.abs(m).max()) or 1.0
    fig = Figure(figsize=(7.5, 3.2), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(m, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(described)), [d.replace(": ", "\n").replace(" + ", "\n") for d in described], fontsize=8)
    ax.set_yticks(range(len(names)), names)
    for (i, k), v in np.ndenumerate(m):
        ax.text(k, i, f"{v:.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax).set_label("mean ICA attribution (logit)")
    ax.set_title("BasicMotions: mean attribution per independent component, by predicted activity", fontsize=10)
    return fig


if __name__ == "__main__":
    main()
