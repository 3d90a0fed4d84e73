"""Domains describe themselves once; every list of domains elsewhere is derived from the registry.

The toy domains below are each one class, defined here and nowhere else: no other file is edited to
make them known by name to :func:`cdig.explain`, :data:`cdig.DOMAINS`, :mod:`cdig.plot` and ``cdig explain``.
"""

from __future__ import annotations

import pkgutil
import sys
from pathlib import Path

import numpy as np
import pytest

import cdig
from cdig.domains import base as domains_base
from cdig.domains import make, names, registered, resolve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def restore_registry():
    """Leave the registry (and DOMAINS, the same dict object) as it was for the other tests."""
    saved, saved_domains = dict(domains_base._REGISTRY), dict(cdig.DOMAINS)
    yield
    domains_base._REGISTRY.clear()
    domains_base._REGISTRY.update(saved)
    cdig.DOMAINS.clear()
    cdig.DOMAINS.update(saved_domains)


@pytest.fixture
def toy(restore_registry):
    """A new domain in one class: the time-reversed signal, scaled (one constructor parameter)."""

    class Reversed(cdig.Domain, register=True):
        name, linear, dims = "reversed", True, ("channel", "time")
        coord_units = {"time": ("s", "sample")}
        plot = "plot_time"

        def __init__(self, scale: float = 1.0) -> None:
            self.scale = float(scale)

        def forward(self, x, xp):
            return xp.flip(x, axis=-1) * self.scale

        def inverse(self, z, xp):
            return xp.flip(z, axis=-1) / self.scale

    return Reversed


# --- built-in domains: the derived lists are those kept by hand before --------------------------------
def test_domains_and_their_order_are_as_before():
    assert list(cdig.DOMAINS) == ["time", "fourier", "ica", "dct", "wavelet", "magphase", "cepstrum"]
    assert cdig.DOMAINS is cdig.domains.DOMAINS
    assert all(cdig.DOMAINS[n] is registered()[n] for n in cdig.DOMAINS)
    assert [type(d).__name__ for d in resolve(["time", "Fourier", "cepstrum"])] == ["Time", "Fourier", "ComplexCepstrum"]
    with pytest.raises(cdig.CdigValueError, match="unknown domain 'stft'.*accepted names: time, fourier"):
        resolve("stft")  # needs n_fft: passed as an object, as before


def test_registry_holds_every_named_domain_of_cdig():
    assert set(registered()) == set(cdig.DOMAINS) | {"bands", "stft", "basis", "trend"}
    assert [n for n, c in registered().items() if c.needs_fs] == ["bands"]
    assert names(with_fs=True) == [*cdig.DOMAINS, "bands"]  # the command line's choices, as before
    assert not cdig.Compose.parameter_free and "compose" not in registered()


def test_every_public_domain_module_is_imported():
    package = Path(cdig.domains.__file__).parent
    public = [m.name for m in pkgutil.iter_modules([str(package)]) if not m.name.startswith("_")]
    assert all(f"cdig.domains.{m}" in sys.modules for m in public)


def test_plot_hooks_are_the_table_kept_before():
    plot = pytest.importorskip("cdig.plot")
    before = {
        "time": "plot_time",
        "fourier": "plot_fourier",
        "ica": "plot_ica",
        "basis": "plot_ica",
        "stft": "plot_stft",
        "wavelet": "plot_wavelet",
        "bands": "plot_bands",
        "trend": "plot_trend",
        "magphase": "plot_magphase",
    }
    hooks = {n: c.plot for n, c in registered().items() if c.plot is not None}
    assert hooks == before
    assert all(callable(getattr(plot, h)) for h in hooks.values())


@pytest.mark.parametrize("fs", [None, 64.0])
def test_coord_units_are_those_coords_report(fs):
    x = np.random.default_rng(0).normal(size=(2, 2, 64))
    objects = [make(n, fs=64.0) for n in names(with_fs=True) if n != "ica"]
    objects += [cdig.STFT(16, hop_length=4), cdig.TrendSeason(8), cdig.LinearBasis(np.eye(2))]
    for d in objects:
        d.fit(x)
        z = np.asarray(d.forward(x, np))
        values, _, _ = d.reduce(np.abs(z) if np.iscomplexobj(z) else z)
        _, units = d.coords(values.shape[1:], fs)
        expected = {axis: pair[0 if fs is not None else 1] for axis, pair in type(d).coord_units.items()}
        assert units == expected, type(d).__name__


# --- describe / repr from the constructor's signature -----------------------------------------------
@pytest.mark.parametrize(
    "domain, text",
    [
        (cdig.DCT(type=3), "DCT(type=3, norm='ortho')"),
        (cdig.STFT(16, hop_length=4), "STFT(n_fft=16, hop_length=4, window='hann', center=True, pad_mode='constant')"),
        (cdig.TrendSeason(12), "TrendSeason(period=12, trend_window=None, edges='reflect')"),
        (cdig.Wavelet("haar", level=2), "Wavelet(wavelet='haar', level=2, mode='periodization')"),
        (cdig.MagnitudePhase(), "MagnitudePhase(baseline_phase='input', zero_tol=None)"),
        (cdig.ComplexCepstrum(eps=1e-9), "ComplexCepstrum(eps=1e-09, zero_tol=None)"),
        (cdig.Time(), "Time()"),
        (cdig.Fourier(), "Fourier()"),
    ],
)
def test_repr_is_the_constructor_call(domain, text):
    assert repr(domain) == text
    assert type(domain).from_description(domain.describe()).describe() == domain.describe()


def test_describe_records_the_settings_recorded_before():
    assert cdig.TrendSeason(12).describe() == {
        "name": "trend",
        "class": "TrendSeason",
        "linear": True,
        "period": 12,
        "trend_window": 12,
        "edges": "reflect",
    }
    w = cdig.Wavelet("haar").fit(np.zeros((1, 1, 16)))
    assert w.describe()["level"] == w.level_ and repr(w) == "Wavelet(wavelet='haar', level=None, mode='periodization')"
    s = cdig.STFT(8, window=("tukey", 0.5)).fit(np.zeros((1, 1, 32)))
    assert s.describe()["window"] == ["tukey", 0.5] and s.describe()["n_frames"] == s.n_frames_
    assert "components" not in cdig.LinearBasis(np.eye(2)).describe()
    ica = cdig.ICA().describe()
    assert ica == {"name": "ica", "class": "ICA", "linear": True, "per_sample": False, "n_components": None}


@pytest.mark.parametrize(
    "domain",
    [
        cdig.DCT(),
        cdig.STFT(8),
        cdig.Wavelet(),
        cdig.TrendSeason(4),
        cdig.ComplexCepstrum(),
        cdig.ICA(),
        cdig.LinearBasis(np.eye(2)),
    ],
    ids=lambda d: type(d).__name__,
)
def test_one_not_fitted_check(domain):
    with pytest.raises(cdig.CdigValueError, match=f"this {type(domain).__name__} domain is not fitted: call .fit"):
        domain.forward(np.zeros((1, 2, 8)), np)


# --- a new domain: one class -------------------------------------------------------------------------
def test_a_toy_domain_is_known_everywhere_by_its_name(toy):
    torch = pytest.importorskip("torch")
    assert cdig.DOMAINS["reversed"] is toy and registered()["reversed"] is toy and toy.parameter_free
    assert isinstance(resolve("reversed")[0], toy)
    # explained by name
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1), torch.nn.Tanh()).eval()
    x = torch.randn(2, 1, 16)
    att = cdig.explain(model, x, ["time", "reversed"], n_steps=32)["reversed"]
    assert att.dims == ("channel", "time") and float(np.abs(att.delta).max()) < 1e-4
    # self-description: repr and describe from the constructor, and back
    d = toy(scale=2.0)
    assert repr(d) == "Reversed(scale=2.0)"
    assert d.describe() == {"name": "reversed", "class": "Reversed", "linear": True, "scale": 2.0}
    assert repr(toy.from_description(d.describe())) == "Reversed(scale=2.0)"


def test_a_toy_domain_gets_its_plotter(toy):
    torch = pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    from cdig.plot import _plotter, plot_attribution, plot_time

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1)).eval()
    att = cdig.explain(model, torch.randn(1, 1, 16), "reversed", n_steps=4)["reversed"]
    assert _plotter(att) is plot_time
    assert len(plot_attribution(att).axes) >= 1


def test_a_toy_domain_is_offered_by_the_command_line(toy):
    from cdig.cli import build_parser

    args = build_parser().parse_args(["explain", "m.pt", "d.npy", "--domain", "Reversed", "--domain", "bands"])
    assert args.domains == ["reversed", "bands"]
    explain = build_parser()._subparsers._group_actions[0].choices["explain"]  # type: ignore[union-attr]
    assert "cepstrum, reversed, bands" in " ".join(explain.format_help().split())


def test_a_toy_domain_that_needs_fs(restore_registry):
    class Decimated(cdig.Time, register=True):  # a subclass of a cdig domain: inherits its hooks
        name, needs_fs = "toy_hz", True

        def __init__(self, fs: float) -> None:
            self.fs = fs

    assert not Decimated.parameter_free and "toy_hz" not in cdig.DOMAINS and Decimated.order > cdig.Time.order
    assert names(with_fs=True)[-2:] == ["bands", "toy_hz"]
    assert make("toy_hz", fs=250.0).fs == 250.0 and Decimated.plot == "plot_time"
    with pytest.raises(cdig.CdigValueError, match="needs the sampling rate"):
        make("toy_hz")


def test_registration_is_declared(restore_registry):
    class Unlisted(cdig.Time):  # a domain for one experiment: passed as an object, listed nowhere
        name = "unlisted"

    assert "unlisted" not in registered() and resolve(Unlisted())[0].name == "unlisted"
    with pytest.raises(cdig.CdigValueError, match="'time' is cdig's Time"):

        class Clash(cdig.Time, register=True):
            name = "time"

    assert registered()["time"] is cdig.Time

    class Again(cdig.Time, register=True):
        name = "again"

    class Again2(cdig.Time, register=True):  # a cell run again: the newer class
        name = "again"

    assert registered()["again"] is Again2 and list(cdig.DOMAINS).count("again") == 1


def test_every_domain_has_its_docs_page():
    pages = {p.stem for p in (ROOT / "docs" / "domains").glob("*.md")}
    assert set(registered()) <= pages
    nav = (ROOT / "mkdocs.yml").read_text()
    assert all(f"domains/{p}.md" in nav for p in pages)
