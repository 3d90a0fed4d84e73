"""Planted truth for every attribution method, and IG = Shapley = occlusion on linear models in every domain.

1. The tasks of :mod:`cdig.datasets.planted` each decide the class by one thing a domain names (a tone's
   rFFT bin, an independent source, the seasonal component, a bin's phase). For each task a small exact
   model reads that thing, built from the task's truth (no training: the planted-truth benchmark's CNNs,
   :mod:`cdig.metrics.planted`, take seconds each), and every method — Integrated Gradients through
   :func:`cdig.explain`'s default and each of :data:`cdig.perturb.METHODS` — must put its largest
   attribution on the planted coefficient for at least :data:`cdig.metrics.planted.TARGET_SCORE` of the
   explained samples (scored as the benchmark scores).
2. For a linear model ``f(x) = <w, x> + b`` and a linear domain ``x = T⁻¹ z`` (affine for ICA),
   ``f ∘ T⁻¹`` is affine in the coefficients, so the game ``v(S)`` is additive: every coalition adds each
   group's ``<w', z_g - z0_g>``. Then every Shapley value (exact, or from any permutation), every occlusion
   value and the expectation of RISE equal that term, and so does Integrated Gradients (a constant
   gradient). Checked in every domain of the registry, to round-off.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.datasets.planted import TASKS, make_task
from cdig.domains import registered
from cdig.metrics.planted import TARGET_SCORE
from cdig.perturb import METHODS
from cdig.testing import requires_sklearn

#: Integrated Gradients (``cdig.explain``'s default rule) and every perturbation method.
ALL_METHODS = ("ig", *METHODS)


# --- 1. planted truth -------------------------------------------------------------------------------
class ToneReader(torch.nn.Module):
    """``frequency``: class ``j``'s logit is the power of its tone's rFFT bin; softmax over the four tones."""

    def __init__(self, bins: list[int], n_times: int, scale: float = 0.05) -> None:
        super().__init__()
        self.bins, self.scale = bins, scale / n_times

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.rfft(x[:, 0], dim=-1)[:, self.bins]
        return torch.softmax(self.scale * (spec.real**2 + spec.imag**2), dim=-1)


class SourceBandReader(torch.nn.Module):
    """``source``: unmix the planted source with the true mixing matrix; logits are its power in the planted
    band (class 1) and in the bands class 0 draws its tone from."""

    def __init__(self, unmix: np.ndarray, in_bins: np.ndarray, out_bins: np.ndarray, scale: float) -> None:
        super().__init__()
        self.unmix = torch.from_numpy(unmix)
        self.in_bins, self.out_bins, self.scale = torch.from_numpy(in_bins), torch.from_numpy(out_bins), scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.rfft(torch.einsum("c,nct->nt", self.unmix, x), dim=-1)
        power = spec.real**2 + spec.imag**2
        logits = torch.stack([power[:, self.out_bins].sum(-1), power[:, self.in_bins].sum(-1)], dim=-1)
        return torch.softmax(self.scale * logits, dim=-1)


class SeasonReader(torch.nn.Module):
    """``season``: the energy of the period's mean pattern (the signal folded per period, centred)."""

    def __init__(self, period: int, threshold: float = 0.3, scale: float = 10.0) -> None:
        super().__init__()
        self.period, self.threshold, self.scale = period, threshold, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x[:, 0]
        folded = s.reshape(len(s), -1, self.period).mean(dim=1)
        energy = ((folded - folded.mean(dim=-1, keepdim=True)) ** 2).mean(dim=-1)
        seasonal = self.scale * (energy - self.threshold)
        return torch.softmax(torch.stack([torch.zeros_like(seasonal), seasonal], dim=-1), dim=-1)


class PhaseReader(torch.nn.Module):
    """``phase``: a matched filter, the tone's cosine: its sign is the class."""

    def __init__(self, k0: int, n_times: int, scale: float = 2.0) -> None:
        super().__init__()
        t = torch.arange(n_times, dtype=torch.float64)
        self.w, self.scale = (2.0 / n_times) * torch.cos(2 * torch.pi * k0 * t / n_times), scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = self.scale * (x[:, 0] * self.w).sum(dim=-1)
        return torch.softmax(torch.stack([-level, level], dim=-1), dim=-1)


class Case:
    """One task ready to explain: model, batch, domain, baseline, targets, groups, and how to score a map."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "frequency":
            task = make_task(name, n=8, seed=0)
            self.x, y = task.X.astype(np.float64), task.y
            self.model = ToneReader(task.truth["bins"], task.X.shape[-1])
            self.domain, self.baseline, self.groups = cdig.Fourier(), None, None
            self.target = y.tolist()
            self.truth = np.asarray(task.truth["bins"])[y]  # the bin of each sample's tone
        elif name == "source":
            self._source()
        elif name == "season":
            task = make_task(name, n=24, seed=0)
            keep = task.y == 1  # the class the pattern decides, as the benchmark explains it
            self.x = task.X[keep].astype(np.float64)
            self.model = SeasonReader(task.truth["period"])
            self.domain, self.baseline, self.target = cdig.TrendSeason(task.truth["period"]), None, 1
            # perturbation players: the three components, each over all its time steps
            self.groups = np.broadcast_to(np.arange(3)[None, :, None], (1, 3, self.x.shape[-1])).copy()
            self.truth = np.full(len(self.x), ("trend", "seasonal", "residual").index(task.truth["component"]))
        else:  # phase
            task = make_task(name, n=8, seed=0)
            self.x = task.X.astype(np.float64)
            self.model = PhaseReader(task.truth["bin"], task.X.shape[-1])
            self.domain, self.groups, self.target = cdig.MagnitudePhase(), None, task.y.tolist()
            self.baseline = np.roll(self.x, task.truth["baseline_shift"], axis=-1)  # same magnitudes, phase + π
            self.truth = np.full(len(self.x), np.ravel_multi_index((0, 1, task.truth["bin"]), (1, 2, self.x.shape[-1] // 2 + 1)))

    def _source(self) -> None:
        from sklearn.decomposition import FastICA

        task = make_task("source", n=96, seed=0)
        n_train = 3 * len(task.X) // 4
        x = task.X.astype(np.float64)
        c, t_len = x.shape[1], x.shape[2]
        planted = task.truth["planted_source"]
        freqs = np.fft.rfftfreq(t_len, d=1.0 / task.fs)
        lo, hi = task.truth["band"]
        in_bins = np.nonzero((freqs >= lo) & (freqs <= hi))[0]
        out_bins = np.nonzero(((freqs >= lo / 2) & (freqs < lo)) | ((freqs > hi) & (freqs <= 1.5 * hi)))[0]
        unmix = np.linalg.inv(task.extras["mixing"])[planted]
        spec = np.fft.rfft(np.einsum("c,nct->nt", unmix, x[:n_train]), axis=-1)
        typical = np.median((np.abs(spec) ** 2)[:, np.concatenate([in_bins, out_bins])].sum(axis=-1))
        self.model = SourceBandReader(unmix, in_bins, out_bins, scale=2.0 / typical)
        # FastICA on the training set's pooled time steps; the planted component is the one that recovers
        # the planted source best (as the benchmark finds it)
        ica = FastICA(n_components=c, whiten="unit-variance", random_state=0, max_iter=1000)
        rec = ica.fit_transform(x[:n_train].transpose(0, 2, 1).reshape(-1, c))
        true = task.extras["sources"][:n_train, planted].reshape(-1)
        component = int(np.argmax([abs(np.corrcoef(rec[:, k], true)[0, 1]) for k in range(c)]))
        keep = task.y[n_train:] == 1
        self.x = x[n_train:][keep]
        self.domain, self.baseline, self.groups, self.target = cdig.ICA(ica), None, None, 1
        self.truth = np.full(len(self.x), component)

    def explain(self, method: str) -> cdig.Attribution:
        base = None if self.baseline is None else torch.from_numpy(self.baseline)
        kw = {} if method == "ig" else {"method": method, "groups": self.groups}  # IG: cdig.explain's default rule
        maps = cdig.explain(self.model, torch.from_numpy(self.x), self.domain, target=self.target, baselines=base, **kw)
        return next(iter(maps.values()))

    def score(self, att: cdig.Attribution, method: str) -> float:
        """The share of samples whose largest attribution is the planted coefficient."""
        if self.name == "season" and method == "ig":
            scores = att.extras["totals"].reshape(len(self.x), 3)  # the components' totals over time
        else:
            scores = att.values.reshape(len(self.x), -1)
        return float(np.mean(np.argmax(scores, axis=1) == self.truth))


@pytest.fixture(scope="module", params=TASKS)
def case(request) -> Case:
    if request.param == "source":
        pytest.importorskip("sklearn")  # FastICA
    return Case(request.param)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_planted_truth_every_method(case, method):
    att = case.explain(method)
    score = case.score(att, method)
    assert score >= TARGET_SCORE, f"{case.name} / {method}: {score:.2f} of {len(case.x)} samples hit the planted coefficient"
    if method in ("ig", "shapley"):  # completeness / efficiency: the attributions add up to the change
        assert float(att.relative_delta.max()) < (1e-2 if method == "ig" else 1e-9)


# --- 2. IG = Shapley = occlusion (= RISE in expectation) on linear models, in every domain ---------------
SHAPE = (4, 2, 32)  # samples, channels, time steps
N_GROUPS = 5  # players of the exact Shapley values: the reported values dealt round-robin


def _linear_domains() -> list:
    """Every registered linear domain that builds without arguments, and the parameterised ones."""
    named = [name for name, cls in cdig.DOMAINS.items() if cls.linear]
    made = [
        cdig.STFT(8, hop_length=4),
        cdig.FrequencyBands({"low": (0.0, 3.0), "mid": (3.0, 6.0)}, fs=16.0),
        cdig.TrendSeason(4),
        cdig.LinearBasis(np.array([[1.0, 0.5], [-0.3, 2.0]])),  # not orthogonal: its inverse is the matrix inverse
        cdig.Wavelet("haar", level=2),
    ]
    return [*named, *made]


NONLINEAR = [name for name, cls in cdig.DOMAINS.items() if not cls.linear]


@pytest.fixture(scope="module")
def linear_problem():
    torch.manual_seed(3)
    rng = np.random.default_rng(11)
    x = rng.laplace(size=SHAPE)  # non-Gaussian: the batch's own FastICA ("ica") converges
    x0 = 0.5 * rng.normal(size=SHAPE)  # a baseline that is not zero: every coefficient moves
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(SHAPE[1] * SHAPE[2], 2)).double().eval()
    return model, torch.from_numpy(x), torch.from_numpy(x0)


def _run(model, x, x0, domain, **kw) -> cdig.Attribution:
    return next(iter(cdig.explain(model, x, domain, target=1, baselines=x0, **kw).values()))


def _by_group(values: np.ndarray, labels: np.ndarray, n_groups: int) -> np.ndarray:
    flat, lab = values.reshape(len(values), -1), labels.reshape(-1)
    return np.stack([flat[:, lab == g].sum(axis=1) for g in range(n_groups)], axis=1)


def _round_robin(shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    size = int(np.prod(shape))
    n_groups = min(N_GROUPS, size)
    return (np.arange(size) % n_groups).reshape(shape), n_groups


@requires_sklearn
@pytest.mark.parametrize("domain", _linear_domains(), ids=lambda d: d if isinstance(d, str) else type(d).__name__)
def test_linear_model_ig_equals_shapley_occlusion_and_rise(linear_problem, domain):
    model, x, x0 = linear_problem
    ig = _run(model, x, x0, domain)
    scale = float(np.abs(ig.output - ig.baseline_output).max())
    tol = 1e-9 * max(scale, float(np.abs(ig.values).max()))
    assert float(np.abs(ig.delta).max()) <= tol  # exact for a linear model: the gradient is constant

    # exact Shapley values of round-robin groups of the reported values
    labels, n_groups = _round_robin(ig.values.shape[1:])
    exact = _run(model, x, x0, domain, method="shapley", groups=labels)
    assert exact.settings["estimator"] == "exact"
    np.testing.assert_allclose(exact.values, _by_group(ig.values, labels, n_groups), rtol=0, atol=tol)
    # per reported value: occlusion, and Shapley values from 8 permutations (every one gives the same marginals)
    occlusion = _run(model, x, x0, domain, method="occlusion")
    sampled = _run(model, x, x0, domain, method="shapley", n_samples=8)
    assert sampled.settings["estimator"] == "permutation"
    for att in (occlusion, sampled):
        assert att.values.shape == ig.values.shape and att.dims == ig.dims
        np.testing.assert_allclose(att.values, ig.values, rtol=0, atol=tol)
    assert float(np.abs(occlusion.delta).max()) <= tol  # an additive game leaves no interaction out
    # RISE: the mean over masks keeping a group minus that over masks dropping it is unbiased here
    rise = _run(model, x, x0, domain, method="rise", n_samples=1000)
    se = rise.extras["standard_error"]
    assert rise.values.shape == se.shape == ig.values.shape
    assert np.all(np.abs(rise.values - ig.values) <= 5 * se + tol)


@requires_sklearn
@pytest.mark.parametrize("domain", NONLINEAR)
def test_nonlinear_domain_ig_and_shapley_each_complete(linear_problem, domain):
    """In magphase and cepstrum, ``x = T⁻¹(z)`` is nonlinear (``m·e^{iφ}``, ``exp``), so even a linear ``f``
    makes ``f ∘ T⁻¹`` non-additive in the coefficients: a bin's magnitude and phase interact (``m cos φ``),
    and so do all quefrencies through the exponential. Shapley values then average the interactions over
    coalitions while IG integrates along one straight path: different attributions, both complete."""
    model, x, x0 = linear_problem
    ig = _run(model, x, x0, domain, n_steps=256)
    labels, n_groups = _round_robin(ig.values.shape[1:])
    exact = _run(model, x, x0, domain, method="shapley", groups=labels)
    scale = float(np.abs(exact.output - exact.baseline_output).max())
    assert exact.settings["estimator"] == "exact"
    assert float(np.abs(exact.delta).max()) <= 1e-9 * scale  # efficiency (up to round-off)
    assert float(np.abs(ig.delta).max()) <= 1e-6 * scale  # completeness (up to the quadrature)
    np.testing.assert_allclose(exact.output, ig.output, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(exact.baseline_output, ig.baseline_output, rtol=0, atol=1e-9 * scale)
    # the games differ from the additive one: the grouped maps are not equal
    assert np.abs(exact.values - _by_group(ig.values, labels, n_groups)).max() > 1e-6 * scale


def test_every_registered_domain_is_covered():
    named = {d for d in _linear_domains() if isinstance(d, str)} | set(NONLINEAR)
    assert named == set(cdig.DOMAINS)
    # the registry's parameterised domains are all among the instances above, except the composition
    made = {type(d).name for d in _linear_domains() if not isinstance(d, str)}
    assert set(registered()) - set(cdig.DOMAINS) - made <= {"compose"}
