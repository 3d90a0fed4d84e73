"""MiniRocket on BasicMotions: exact Shapley values of frequency bands and independent components.

MiniRocket (aeon) classifies time series with thousands of random dilated convolutions pooled into
"proportion of positive values" features: a piecewise-constant function of the input, with no useful
gradient, so Integrated Gradients cannot explain it. Perturbation methods can: a *player* is a group of
a domain's coefficients, a coalition keeps the recording's coefficients on its players and the baseline's
(here the zero signal) elsewhere, and the model is run on the signal that coalition inverts to.

This script fits MiniRocket (with a logistic head, for graded probabilities) on the BasicMotions problem
of the UEA archive (six channels — a 3-D accelerometer and a 3-D gyroscope — 100 steps at 10 Hz, four
activities; the file ships in aeon's wheel) and explains the predicted activity of a few held-out
recordings with **exact** Shapley values (all ``2**G`` coalitions) of

* four frequency bands and the remainder, each band taken across the six channels (5 players), and
* the six independent components of a FastICA fitted on the training recordings (6 players).

Exact Shapley values add up to ``f(recording) - f(baseline)`` (efficiency): the script checks it. For
comparison it also estimates the same values from sampled permutations, which carry a standard error,
and prints both. Figures are written with ``Attribution.plot``.

Run::

    python examples/minirocket_shapley.py [--out DIR] [--samples K] [--permutations P] [--quick]

Needs ``pip install 'cdig[examples]' aeon`` (scikit-learn, matplotlib, aeon with its data files).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
from aeon.classification.convolution_based import MiniRocketClassifier
from sklearn.decomposition import FastICA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import cdig
from cdig.datasets.real import load_ucr

BANDS = {"below 0.5 Hz": (0.0, 0.5), "0.5-1.5 Hz": (0.5, 1.5), "1.5-3 Hz": (1.5, 3.0), "3-5 Hz": (3.0, 5.0)}


def as_float64(features: np.ndarray) -> np.ndarray:
    """MiniRocket's features are float32; a float64 head gives each recording the same output in any batch."""
    return np.asarray(features, dtype=np.float64)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default=None, help="output folder (same as --out)")
    parser.add_argument("--out", default=None, help="output folder (default: a new temporary folder)")
    parser.add_argument("--samples", type=int, default=8, help="held-out recordings explained (default: %(default)s)")
    parser.add_argument(
        "--permutations", type=int, default=32, help="permutations of the sampled estimate (default: %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help="two recordings and fewer kernels (for tests)")
    args = parser.parse_args(argv)
    out = Path(args.out or args.out_dir or tempfile.mkdtemp(prefix="cdig-minirocket-"))
    out.mkdir(parents=True, exist_ok=True)
    n_explained = 2 if args.quick else args.samples

    # 1. data and model: MiniRocket features, a logistic head
    train, test = load_ucr("BasicMotions", "train"), load_ucr("BasicMotions", "test")
    x_train, x_test = train.X.astype(np.float64), test.X.astype(np.float64)
    head = make_pipeline(FunctionTransformer(as_float64), StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))
    n_kernels = 252 if args.quick else 2000
    clf = MiniRocketClassifier(n_kernels=n_kernels, random_state=0, estimator=head).fit(x_train, train.y)
    accuracy = float(np.mean(clf.predict(x_test) == test.y))
    print(f"BasicMotions, MiniRocket ({n_kernels} kernels): held-out accuracy {accuracy:.2f} (chance 0.25)")

    pick = np.linspace(0, len(x_test) - 1, n_explained).round().astype(int)
    x = x_test[pick]
    predicted = clf.predict_proba(x).argmax(axis=1)

    # 2. the domains: bands (one player per band, across the channels) and FastICA's components
    bands = cdig.FrequencyBands(BANDS, fs=train.fs)
    per_band = np.tile(np.arange(len(BANDS) + 1), (x.shape[1], 1))  # (channel, band) -> the band's player
    pooled = x_train.transpose(0, 2, 1).reshape(-1, x.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastICA's convergence chatter: any unmixing is an exact change of basis
        ica = FastICA(whiten="unit-variance", random_state=0, max_iter=1000).fit(pooled)
    domains = {"bands": (bands, per_band, [*BANDS, "other"]), "ica": (cdig.ICA(ica), None, [f"IC {k}" for k in range(6)])}

    # 3. exact Shapley values, and a sampled estimate with standard errors for comparison
    summary: dict = {"accuracy": accuracy, "n_kernels": n_kernels, "explained": pick.tolist(), "domains": {}}
    for name, (domain, groups, players) in domains.items():
        common = {"method": "shapley", "target": predicted.tolist(), "groups": groups, "fs": train.fs}
        exact = cdig.explain(clf.predict_proba, x, domain, **common)[name]
        sampled = cdig.explain(clf.predict_proba, x, domain, n_samples=args.permutations, seed=0, **common)[name]
        se = sampled.extras["standard_error"]
        max_delta = float(np.abs(exact.delta).max())
        print(
            f"\n{name}: {exact.settings['estimator']} Shapley values, {int(exact.n_steps[0])} coalitions per recording; "
            f"efficiency: max |sum - (f(x) - f(0))| = {max_delta:.1e}"
        )
        # the recording whose prediction moves most from the baseline's (the zero signal reads as standing still)
        s = int(np.argmax(np.abs(exact.output - exact.baseline_output)))
        label = test.classes[predicted[s]]
        print(f"  recording {pick[s]}: p({label}) = {exact.output[s]:.3f}, at the baseline {exact.baseline_output[s]:.3f}")
        print(f"  {'player':<14}{'exact':>9}   {'sampled, ' + str(sampled.settings['n_samples']) + ' permutations':>28}")
        for k, player in enumerate(players):
            print(f"  {player:<14}{exact.values[s, k]:>9.4f}   {sampled.values[s, k]:>17.4f} ± {se[s, k]:.4f}")
        if name == "bands":  # the players are groups (one band across the channels): name them for the figure
            exact.coords["group"] = np.array(players)
        title = f"BasicMotions recording {pick[s]} ({label}): exact Shapley values of p({label})"
        exact.plot(s, title=title).savefig(out / f"{name}.png", dpi=90)
        exact.save(out / f"{name}.npz")
        summary["domains"][name] = {
            "players": players,
            "exact": exact.values.round(6).tolist(),
            "sampled": sampled.values.round(6).tolist(),
            "standard_error": se.round(6).tolist(),
            "max_abs_delta": max_delta,
            "output": exact.output.tolist(),
            "baseline_output": exact.baseline_output.tolist(),
        }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")
    return summary


if __name__ == "__main__":
    main()
