"""``cdig explain --method shapley|occlusion|rise``: perturbation methods from the command line.

The model reads one rFFT bin (the energy of bin ``K``): in the Fourier domain the game of its bins is
``v(S) = |X_K|**2 / T`` when ``K`` is in ``S`` and 0 otherwise, so every method gives bin ``K`` the whole
output and the other bins nothing — the closed form the maps are checked against.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from cdig import Attribution
from cdig.cli import main
from cdig.testing import requires_torch

pytestmark = requires_torch

N, T, K = 3, 16, 3


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import torch

    class OneBin(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, T) -> (N,): the energy of rFFT bin K
            return (torch.fft.rfft(x, dim=-1)[:, :, 3].abs() ** 2).sum(dim=1) / x.shape[-1]

    d = tmp_path_factory.mktemp("perturb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(OneBin()), str(d / "m.pt"))
    x = np.random.default_rng(0).standard_normal((N, 1, T)).astype(np.float32)
    np.save(d / "x.npy", x)
    return d, x


def _explain(files, out, *extra):
    d, _ = files
    return main(["explain", str(d / "m.pt"), str(d / "x.npy"), "--domain", "fourier", "--no-progress", "--no-figures",
                 "--out", str(out), *extra])  # fmt: skip


@pytest.mark.parametrize("method", ["shapley", "occlusion", "rise"])
def test_each_method_gives_the_one_bin_its_energy(files, tmp_path, capsys, method):
    _, x = files
    extra = ["--draws", "64", "--seed", "1"] if method == "rise" else []
    assert _explain(files, tmp_path / "out", "--method", method, *extra) == 0
    capsys.readouterr()
    att = Attribution.load(tmp_path / "out" / "fourier.npz")
    energy = np.abs(np.fft.rfft(x.astype(np.float64), axis=-1)[:, 0, K]) ** 2 / T
    assert att.values.shape == (N, 1, T // 2 + 1)
    others = np.delete(att.values[:, 0], K, axis=1)
    if method == "rise":  # sampled masks: bin K's value and the others' zeros to within their standard errors
        se = att.extras["standard_error"][:, 0]
        assert np.all(np.abs(att.values[:, 0, K] - energy) <= 5 * se[:, K] + 1e-6 * energy)  # float32 model
        assert np.all(np.abs(others) <= 5 * np.delete(se, K, axis=1))
    else:
        np.testing.assert_allclose(att.values[:, 0, K], energy, rtol=1e-5)
        np.testing.assert_allclose(others, 0.0, atol=1e-5 * energy.max())
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["settings"]["method"] == method and summary["settings"]["n_steps"] is None
    draws = {"shapley": (None, 0), "rise": (64, 1)}.get(method)
    if draws is None:
        assert "draws" not in summary["settings"]
    else:
        assert (summary["settings"]["draws"], summary["settings"]["seed"]) == draws
    if method != "rise":  # efficiency (RISE's values need not add up)
        assert summary["deltas"]["fourier"]["max_relative_delta"] < 1e-5


def test_steps_are_ignored_with_a_note_and_rank_works(files, tmp_path, capsys):
    assert _explain(files, tmp_path / "out", "--method", "shapley", "--steps", "16", "--rank", "--domain", "time") == 0
    stdout = capsys.readouterr().out
    assert "ignored with --method shapley" in stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["ranking"]["order"] == ["fourier", "time"]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--method", "occlusion", "--draws", "4"], "occlusion draws nothing"),
        (["--method", "gausslegendre", "--seed", "3"], "is Integrated Gradients, which draws nothing"),
        (["--draws", "8"], "is Integrated Gradients, which draws nothing"),
        (["--method", "shap"], "invalid choice"),
    ],
)
def test_bad_combinations_are_refused(files, tmp_path, capsys, extra, words):
    with pytest.raises(SystemExit) if words == "invalid choice" else _nothing():
        code = _explain(files, tmp_path / "out", *extra)
        assert code != 0
    assert words in capsys.readouterr().err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
