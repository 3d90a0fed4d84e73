"""The FastICA that ``ICA()`` fits itself: its iterations and convergence are reported (sklearn's own
behaviour on the same data is the reference), with one cdig warning when it did not converge."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import cdig

sklearn_decomposition = pytest.importorskip("sklearn.decomposition")
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning  # noqa: E402

N, C, T = 2, 3, 200
NOISE_C, NOISE_T = 8, 256  # with fewer channels FastICA sometimes "converges" on Gaussian noise too
MAX_ITER = cdig.ICA().max_iter  # cdig's default


def _sklearn_reference(x: np.ndarray, max_iter: int) -> tuple[int, bool]:
    """(n_iter_, converged) of sklearn's FastICA fitted as cdig documents it: pooled time steps, seed 0."""
    pooled = x.transpose(0, 2, 1).reshape(-1, x.shape[1])
    est = sklearn_decomposition.FastICA(n_components=x.shape[1], whiten="unit-variance", random_state=0, max_iter=max_iter)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(pooled)
    return int(est.n_iter_), not any(issubclass(w.category, SklearnConvergenceWarning) for w in caught)


@pytest.fixture
def linear(rng, models):
    w = rng.normal(size=(C, T))
    return models.Linear(w, 0.1).eval(), w


@pytest.fixture
def noise(models):
    """(model, w, x): a linear model and i.i.d. Gaussian signals, which have no independent components."""
    r = np.random.default_rng(0)
    x = r.standard_normal((N, NOISE_C, NOISE_T))
    w = r.normal(size=(NOISE_C, NOISE_T))
    return models.Linear(w, 0.1).eval(), w, x


def _planted(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(x (N, C, T), sources (N, C, T)): uniform, Laplace and sign-sine sources, mixed and offset."""
    t = np.arange(T) / 50.0
    sources = np.stack(
        [np.stack([rng.uniform(-1.7, 1.7, T), rng.laplace(size=T), np.sign(np.sin(2 * np.pi * (1.3 + i) * t))]) for i in range(N)]
    )
    mixing = np.array([[1.0, 0.5, 0.2], [0.3, 1.0, 0.4], [0.2, 0.6, 1.0]])
    return np.einsum("ck,nkt->nct", mixing, sources) + np.array([1.0, -2.0, 0.5])[:, None], sources


def test_noise_does_not_converge_one_warning(closed, noise):
    model, w, x = noise
    n_ref, converged_ref = _sklearn_reference(x, MAX_ITER)
    assert (n_ref, converged_ref) == (MAX_ITER, False)  # the premise, by sklearn itself
    d = cdig.ICA()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = cdig.explain(model, torch.as_tensor(x), [d], n_steps=2)["ica"]
    ours = [w_ for w_ in caught if issubclass(w_.category, cdig.ConvergenceWarning)]
    assert len(ours) == 1, [str(w_.message) for w_ in caught]
    msg = str(ours[0].message)
    assert msg.startswith(f"FastICA did not converge in {MAX_ITER} iterations on this data (noise-like or Gaussian signals")
    assert "unconverged unmixing" in msg and "max_iter" in msg and "fitted" in msg
    assert not any(issubclass(w_.category, SklearnConvergenceWarning) for w_ in caught)  # sklearn's is replaced
    assert a.settings["domain"]["fastica"] == {"n_iter": MAX_ITER, "max_iter": MAX_ITER, "converged": False}
    # an unconverged unmixing is still an exact change of coordinates: the closed form holds
    np.testing.assert_allclose(a.values, closed.ica_linear_map(d.fitted_, x, np.zeros_like(x), w), rtol=0, atol=1e-10)
    # reused on another batch, it is not fitted again: no second warning, the fit still reported
    with warnings.catch_warnings():
        warnings.simplefilter("error", cdig.ConvergenceWarning)
        b = cdig.explain(model, torch.as_tensor(x[:1]), [d], n_steps=2)["ica"]
    assert b.settings["domain"]["fastica"]["converged"] is False


def test_max_iter_is_reported(noise):
    model, _, x = noise
    assert _sklearn_reference(x, 30) == (30, False)
    with pytest.warns(cdig.ConvergenceWarning, match="did not converge in 30 iterations"):
        a = cdig.explain(model, torch.as_tensor(x), [cdig.ICA(max_iter=30)], n_steps=2)["ica"]
    assert a.settings["domain"]["fastica"] == {"n_iter": 30, "max_iter": 30, "converged": False}


def test_planted_sources_converge_without_warning(rng, linear):
    model, _ = linear
    x, sources = _planted(rng)
    n_ref, converged_ref = _sklearn_reference(x, MAX_ITER)
    assert converged_ref and n_ref < MAX_ITER
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither cdig's warning nor sklearn's
        a = cdig.explain(model, torch.as_tensor(x), ["ica"], n_steps=2)["ica"]
    assert a.settings["domain"]["fastica"] == {"n_iter": n_ref, "max_iter": MAX_ITER, "converged": True}
    # the recovered components are the planted sources, up to order, sign and scale
    corr = np.corrcoef(a.coefficients.transpose(1, 0, 2).reshape(C, -1), sources.transpose(1, 0, 2).reshape(C, -1))[:C, C:]
    assert np.all(np.abs(corr).max(1) > 0.95), corr


def test_a_given_fitted_ica_reports_no_fastica_fit(fitted_ica, linear, rng):
    model, _ = linear
    a = cdig.explain(model, torch.as_tensor(rng.normal(size=(N, C, T))), [cdig.ICA(fitted_ica)], n_steps=2)["ica"]
    assert "fastica" not in a.settings["domain"]


# --- the MNE channel check comes before the model is called ---------------------------------------


class _Refuses(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("model ran")


def test_mne_channel_mismatch_before_the_model_runs():
    # passes once the engine fits the domains before its first model call
    mne = pytest.importorskip("mne")
    mne.set_log_level("ERROR")
    r = np.random.default_rng(0)
    raw = mne.io.RawArray(1e-5 * r.laplace(size=(4, 500)), mne.create_info(["Fz", "Cz", "Pz", "Oz"], 100.0, "eeg"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MNE's advice on unfiltered data; not what is tested
        ica = mne.preprocessing.ICA(n_components=3, random_state=0).fit(raw)
    x = torch.as_tensor(r.normal(size=(2, 5, 50)))
    with pytest.raises(cdig.CdigValueError, match="fitted on 4 channels"):
        cdig.explain(_Refuses(), x, [cdig.ICA(ica)], n_steps=2)
