"""The shipped planted-truth data set: construction, determinism, the file in the package."""

from importlib import resources

import numpy as np
import pytest

from cdig.datasets import BANDS_SOURCES_FILE, load_bands_sources
from cdig.datasets.synthetic import GUARD_HZ, make_bands_sources, mixing_matrix, read_bands_sources, save_bands_sources


@pytest.fixture(scope="module")
def small():
    return make_bands_sources(n_samples=60, length=256, seed=3)


def test_shapes_dtypes_and_balance(small):
    assert small.X.shape == small.sources.shape == (60, 3, 256)
    assert small.X.dtype == small.sources.dtype == np.float32
    assert small.y.shape == (60,) and small.y.dtype == np.int64
    assert np.bincount(small.y).tolist() == [30, 30]
    assert small.mixing.shape == (3, 3) and small.planted_source == 2
    assert small.fs == 64.0 and small.band == (8.0, 12.0)
    assert "class 1" in small.description and "BandsSources" in repr(small)


def test_odd_sample_count_is_balanced_within_one():
    d = make_bands_sources(n_samples=7, length=64)
    assert abs(int(d.y.sum()) - int((1 - d.y).sum())) == 1


def test_channels_are_the_mixed_sources(small):
    np.testing.assert_allclose(small.X, np.einsum("ck,nkt->nct", small.mixing, small.sources), atol=1e-5)


def test_planted_frequencies_decide_the_class(small):
    lo, hi = small.band
    f1, f0 = small.frequency[small.y == 1], small.frequency[small.y == 0]
    assert np.all((f1 > lo) & (f1 < hi))
    assert np.all((f0 < lo - 1) | (f0 > hi + 1))
    # the planted source's spectral peak is its frequency
    spec = np.abs(np.fft.rfft(small.sources[:, small.planted_source], axis=-1))
    peak = np.fft.rfftfreq(256, 1 / small.fs)[spec.argmax(axis=1)]
    np.testing.assert_allclose(peak, small.frequency, atol=0.25)


def test_background_sources_have_no_energy_in_the_band(small):
    freqs = np.fft.rfftfreq(256, 1 / small.fs)
    band = (freqs >= small.band[0] - GUARD_HZ) & (freqs <= small.band[1] + GUARD_HZ)
    for k in range(small.n_channels):
        power = np.abs(np.fft.rfft(small.sources[:, k].astype(np.float64), axis=-1)) ** 2
        share = power[:, band].sum() / power.sum()
        if k == small.planted_source:
            assert power[small.y == 1][:, band].sum() / power[small.y == 1].sum() > 0.99
        else:
            assert share < 1e-6


def test_sources_are_non_gaussian_and_separable(small):
    from scipy.stats import kurtosis

    pooled = small.sources.transpose(0, 2, 1).reshape(-1, 3)
    assert np.all(np.abs(kurtosis(pooled, axis=0)) > 0.5)  # FastICA needs non-Gaussian sources


def test_same_seed_same_arrays_other_seed_other_arrays():
    a, b = make_bands_sources(n_samples=10, length=64, seed=5), make_bands_sources(n_samples=10, length=64, seed=5)
    c = make_bands_sources(n_samples=10, length=64, seed=6)
    for name in ("X", "y", "sources", "frequency", "mixing"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.X, c.X)
    np.testing.assert_array_equal(a.mixing, c.mixing)  # the mixing is fixed


@pytest.mark.parametrize("c", [2, 3, 4, 6])
def test_mixing_is_fixed_and_well_conditioned(c):
    a = mixing_matrix(c)
    assert np.linalg.cond(a) < 10
    np.testing.assert_array_equal(a, mixing_matrix(c))
    assert make_bands_sources(n_samples=4, n_channels=c, length=64).X.shape == (4, c, 64)


def test_shipped_file_is_reproduced_exactly():
    shipped = load_bands_sources()
    fresh = make_bands_sources(
        n_samples=shipped.n_samples,
        n_channels=shipped.n_channels,
        length=shipped.length,
        fs=shipped.fs,
        band=shipped.band,
        seed=shipped.seed,
    )
    for name in ("X", "y", "sources", "frequency", "mixing"):
        got, want = getattr(shipped, name), getattr(fresh, name)
        assert got.dtype == want.dtype and np.array_equal(got, want), name
    assert (shipped.fs, shipped.band, shipped.planted_source, shipped.description) == (
        fresh.fs,
        fresh.band,
        fresh.planted_source,
        fresh.description,
    )
    assert shipped.X.shape == (400, 3, 256) and np.bincount(shipped.y).tolist() == [200, 200]


def test_shipped_file_is_small():
    size = resources.files("cdig.datasets").joinpath(BANDS_SOURCES_FILE).stat().st_size
    assert size < 1.5e6


def test_save_and_read_round_trip(tmp_path, small):
    path = save_bands_sources(small, tmp_path / "d")
    assert path.name == "d.npz"
    back = read_bands_sources(path)
    for name in ("X", "y", "sources", "frequency", "mixing"):
        assert np.array_equal(getattr(back, name), getattr(small, name))
    assert back.band == small.band and back.seed == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_samples": 1}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"n_channels": 1}, "n_channels"),
        ({"length": 8}, "length"),
        ({"seed": -1}, "seed"),
        ({"fs": 0.0}, "fs"),
        ({"fs": True}, "fs"),
        ({"band": (12.0, 8.0)}, "low < high"),
        ({"band": (8.0,)}, "two frequencies"),
        ({"band": (8.0, 30.0)}, "Nyquist"),
        ({"band": (8.0, 8.5)}, "wide"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_bands_sources(**kwargs)


def test_the_old_name_cdig_data_still_imports_and_warns():
    """``cdig.data`` was renamed ``cdig.datasets`` (too close to ``cdig.dataset``); the old name works and warns."""
    import importlib
    import sys
    import warnings

    for name in [m for m in sys.modules if m == "cdig.data" or m.startswith("cdig.data.")]:
        del sys.modules[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = importlib.import_module("cdig.data")
        real = importlib.import_module("cdig.data.real")
    assert any(issubclass(w.category, DeprecationWarning) and "cdig.datasets" in str(w.message) for w in caught)
    import cdig.datasets
    import cdig.datasets.real

    assert real is cdig.datasets.real
    assert old.load_bands_sources is cdig.datasets.load_bands_sources
