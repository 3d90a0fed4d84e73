"""cdig.windows: lazily cut windows of a long recording, and their maps stitched back onto its time axis."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

import cdig
from cdig.core.errors import CdigTypeError, CdigValueError
from cdig.dataset.recording import Stitched
from cdig.testing import requires_zarr

C, T = 2, 100


@pytest.fixture
def sig():
    return np.random.default_rng(0).normal(size=(C, T))


def _linear(c: int, length: int, seed: int = 0):
    """f(x) = <w, x> (one output, no bias) and its weights (c, length)."""
    torch.manual_seed(seed)
    lin = torch.nn.Linear(c * length, 1, bias=False).double()
    model = torch.nn.Sequential(torch.nn.Flatten(), lin).eval()
    return model, lin.weight.detach().numpy().reshape(c, length)


def _att(values, domain="time", **kw):
    n = len(values)
    z = np.zeros(n)
    return cdig.Attribution(np.asarray(values, dtype=float), domain, ("channel", "time"), kw.pop("coords", {}), z, z, z, z, **kw)


# --- cutting ---------------------------------------------------------------------------------
@pytest.mark.parametrize("length,hop", [(10, 5), (10, 10), (10, 7), (8, 13), (100, 1), (33, 33)])
def test_windows_equal_numpy_slicing(sig, length, hop):
    w = cdig.windows(sig, length, hop)
    assert isinstance(w, cdig.Windows) and w.length == length and w.hop == hop and w.n_samples == T
    regular = list(range(0, T - length + 1, hop))
    assert w.starts[: len(regular)].tolist() == regular
    assert w.starts[-1] + length == T or (hop > length and w.starts[-1] + hop >= T)
    ref = np.stack([sig[:, s : s + length] for s in w.starts])
    np.testing.assert_array_equal(w[:], ref)
    np.testing.assert_array_equal(w[1:3], ref[1:3])
    np.testing.assert_array_equal(w[::2], ref[::2])
    np.testing.assert_array_equal(w[[0, -1]], ref[[0, -1]])
    np.testing.assert_array_equal(w[-1], ref[-1])
    assert w[1:3].flags.c_contiguous and not np.shares_memory(w[0:2], sig)
    assert len(w) == len(ref) == len(list(w))


def test_tail_end_pad_drop():
    x = np.arange(10.0)
    assert cdig.windows(x, 4, 3).starts.tolist() == [0, 3, 6]  # fits exactly: no tail window
    assert cdig.windows(x, 4, 4).starts.tolist() == [0, 4, 6]  # end: aligned to the end
    assert cdig.windows(x, 4, 4, tail="drop").starts.tolist() == [0, 4]
    p = cdig.windows(x, 4, 4, tail="pad")
    assert p.starts.tolist() == [0, 4, 8]
    np.testing.assert_array_equal(p[2], [[8.0, 9.0, 0.0, 0.0]])
    assert cdig.windows(x, 10, 3).starts.tolist() == [0]
    # a pad window would hold zeros only: not added; the gap stays uncovered
    assert cdig.windows(x, 2, 9, tail="pad").starts.tolist() == [0, 9]
    assert cdig.windows(np.arange(11.0), 2, 10, tail="pad").starts.tolist() == [0, 10]


def test_layouts(sig):
    w1 = cdig.windows(sig[0], 10, 5)
    assert w1.n_channels == 1 and w1[0].shape == (1, 10)
    np.testing.assert_array_equal(w1[2], sig[None, 0, 10:20])
    wl = cdig.windows(sig.T, 10, 5, channels_first=False)  # (T, C) recording
    assert wl.n_channels == C and wl.n_samples == T and wl[0].shape == (10, C)
    np.testing.assert_array_equal(wl[1:4], np.stack([sig.T[s : s + 10] for s in (5, 10, 15)]))
    np.testing.assert_array_equal(wl[3], sig.T[15:25])
    assert cdig.windows([1.0, 2.0, 3.0], 2, 1)[1].tolist() == [[2.0, 3.0]]  # a list is read as an array
    assert "2 windows of 2 samples" in repr(cdig.windows([1.0, 2.0, 3.0], 2, 1))
    assert cdig.windows(sig, 10, 5, fs=50.0).times[:3].tolist() == [0.0, 0.1, 0.2]


def test_no_copy_of_the_recording(tmp_path):
    n = 4_000_000  # 2 × 8 MB of float32 on disk
    mm = np.lib.format.open_memmap(tmp_path / "rec.npy", mode="w+", dtype=np.float32, shape=(2, n))
    mm[:, :] = np.arange(n, dtype=np.float32)
    mm.flush()
    rec = np.load(tmp_path / "rec.npy", mmap_mode="r")
    tracemalloc.start()
    try:
        w = cdig.windows(rec, 1000, 500)
        batch = w[100:104]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"cutting 4 windows allocated {peak} bytes"
    assert w.signal is rec and np.shares_memory(w.signal, rec)
    np.testing.assert_array_equal(batch[0, 1], np.arange(50_000, 51_000, dtype=np.float32))
    assert len(w) == (n - 1000) // 500 + 1
    # channels last over a strided view: still no copy
    wl = cdig.windows(rec.T, 1000, 500, channels_first=False)
    assert np.shares_memory(wl.signal, rec)
    np.testing.assert_array_equal(wl[3], rec.T[1500:2500])


# --- stitching time-domain maps ------------------------------------------------------------
def _overlap_add(values, starts, t):
    """By hand: for every sample, the windows covering it and their score at that sample."""
    c = values.shape[1]
    total, count = np.zeros((c, t)), np.zeros(t, dtype=int)
    for i in range(t):
        for v, s in zip(values, starts):
            if s <= i < s + values.shape[-1]:
                total[:, i] += v[:, i - s]
                count[i] += 1
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total, np.nan), np.where(count > 0, total / np.maximum(count, 1), np.nan), count


@pytest.mark.parametrize(
    "length,hop,tail", [(20, 10, "end"), (20, 7, "end"), (20, 7, "pad"), (20, 7, "drop"), (20, 20, "end"), (12, 30, "end")]
)
def test_linear_model_stitched_equals_hand_overlap_add(sig, length, hop, tail):
    model, weight = _linear(C, length)
    w = cdig.windows(sig, length, hop, tail=tail)
    att = cdig.explain(model, torch.from_numpy(w[:]), "time", target=0, n_steps=4)["time"]
    exact = weight[None] * w[:]  # IG of <w, x> from a zero baseline
    np.testing.assert_allclose(att.values, exact, rtol=1e-10, atol=1e-12)
    summed, mean, count = _overlap_add(exact, w.starts, T)
    s = w.stitch(att, how="sum")
    m = w.stitch(att)
    assert isinstance(s, Stitched) and s.values.shape == (C, T) and s.dims == ("channel", "time")
    np.testing.assert_allclose(s.values, summed, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.values, mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(s.coverage, count)
    assert np.isnan(s.values[:, count == 0]).all() and (count == 0).any() == (tail == "drop" or hop > length)
    assert s.units == {"time": "sample"} and s.time.tolist() == list(range(T))


def test_tiling_sum_keeps_completeness(sig):
    model, _ = _linear(C, 25, seed=3)
    w = cdig.windows(sig, 25, 25)
    att = cdig.explain(model, torch.from_numpy(w[:]), "time", target=0, n_steps=4)["time"]
    f = np.array([model(torch.from_numpy(x[None])).item() for x in w[:]])
    f0 = model(torch.zeros(1, C, 25, dtype=torch.float64)).item()
    st = w.stitch(att, how="sum")
    assert np.nansum(st.values) == pytest.approx((f - f0).sum(), rel=1e-10)
    np.testing.assert_array_equal(st.values, w.stitch(att, how="mean").values)
    assert (st.coverage == 1).all()


def test_rows_one_channel_maps_and_fs(sig):
    w = cdig.windows(sig[0], 10, 10, fs=20.0)
    vals = np.arange(100.0).reshape(10, 10)
    st = w.stitch(_att(vals))  # (n, L) map of a one-channel recording
    np.testing.assert_array_equal(st.values, vals.reshape(1, 100))
    assert st.units == {"time": "s"} and st.time[:3].tolist() == [0.0, 0.05, 0.1]
    part = w.stitch(_att(vals[2:4, None]), rows=slice(2, 4))
    assert np.isnan(part.values[0, :20]).all() and np.isnan(part.values[0, 40:]).all()
    np.testing.assert_array_equal(part.values[0, 20:40], vals[2:4].ravel())
    assert cdig.windows(sig[0], 10, 10).stitch(_att(vals, settings={"fs": 5.0})).time[1] == 0.2  # fs of the maps


# --- stitching STFT maps --------------------------------------------------------------------
def _stft_model(length):
    torch.manual_seed(1)
    return (
        torch.nn.Sequential(
            torch.nn.Conv1d(C, 3, 5, padding=2), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(3 * length, 2)
        )
        .double()
        .eval()
    )


@pytest.mark.parametrize("center", [True, False])
def test_stft_frames_land_on_the_recording_grid(sig, center):
    length, hop, fs = 48, 16, 8.0
    stft = cdig.STFT(16, hop_length=4, window="hann" if center else "hamming", center=center)
    model = _stft_model(length)
    w = cdig.windows(sig, length, hop, fs=fs, tail="pad")
    att = cdig.explain(model, torch.from_numpy(w[:]), stft, target=1, n_steps=4, fs=fs)["stft"]
    n_freq, n_frames = att.values.shape[-2:]
    st = w.stitch(att, how="sum")
    mean = w.stitch(att)
    assert st.values.shape[:2] == (C, n_freq) and st.dims == ("channel", "frequency", "time")
    np.testing.assert_allclose(st.frequency, att.coords["frequency"])
    assert st.units == {"time": "s", "frequency": "Hz"}
    hits = np.zeros(st.values.shape[-1])
    expect = np.zeros(st.values.shape)
    for k, s in enumerate(w.starts):
        # a window explained on its own: its frames sit at the window's start plus their local times
        own = cdig.explain(model, torch.from_numpy(w[k][None]), stft, target=1, n_steps=4, fs=fs)["stft"]
        global_t = own.coords["time"] + s / fs
        cols = np.searchsorted(st.time, global_t)
        np.testing.assert_allclose(st.time[cols], global_t, atol=1e-12)
        one = w.stitch(own, rows=[k], how="sum")
        np.testing.assert_allclose(one.values[..., cols], own.values[0], rtol=1e-10, atol=1e-12)
        assert np.isnan(np.delete(one.values, cols, axis=-1)).all()
        expect[..., cols] += own.values[0]
        hits[cols] += 1
    np.testing.assert_array_equal(st.coverage, hits)
    np.testing.assert_allclose(st.values, expect, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mean.values, expect / hits, rtol=1e-9, atol=1e-12)
    assert hits.max() > 1  # windows overlap: some frames are averaged
    # sum keeps completeness: the stitched total is the windows' totals
    assert st.values.sum() == pytest.approx(att.sum().sum(), rel=1e-10)


def test_stft_hop_from_frame_times_without_settings():
    w = cdig.windows(np.zeros(40), 16, 8, tail="drop")
    n = len(w)
    vals = np.ones((n, 1, 3, 5))
    att = cdig.Attribution(
        vals,
        "stft",
        ("channel", "frequency", "time"),
        {"time": np.arange(5) * 4.0, "frequency": np.arange(3.0)},
        np.zeros(n),
        np.zeros(n),
        np.zeros(n),
        np.zeros(n),
        units={"time": "sample"},
    )
    st = w.stitch(att, how="sum")
    assert st.time.tolist() == [float(4 * g) for g in range(st.values.shape[-1])]
    assert st.coverage.tolist() == [1, 1, 2, 2, 3, 2, 3, 2, 2, 1, 1]


# --- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(length=10, hop=0), "hop=0"),
        (dict(length=10, hop=-3), "hop=-3"),
        (dict(length=0, hop=2), "length=0"),
        (dict(length=2.5, hop=2), "length=2.5"),
        (dict(length=101, hop=5), "longer than the recording"),
        (dict(length=10, hop=5, tail="wrap"), "accepted"),
        (dict(length=10, hop=5, fs=-1.0), "positive"),
    ],
)
def test_bad_windows(sig, kwargs, match):
    with pytest.raises(CdigValueError, match=match):
        cdig.windows(sig, **kwargs)


def test_bad_signals_and_indices(sig):
    with pytest.raises(CdigValueError, match=r"expected one recording \(T,\) or \(C, T\)"):
        cdig.windows(sig[None], 10, 5)
    with pytest.raises(CdigTypeError, match="real numbers"):
        cdig.windows(sig.astype(complex), 10, 5)
    with pytest.raises(CdigTypeError, match="channels_first"):
        cdig.windows(sig, 10, 5, channels_first="yes")
    w = cdig.windows(sig, 10, 5)
    with pytest.raises(IndexError, match="out of range"):
        w[len(w)]
    with pytest.raises(CdigTypeError, match="indexed by"):
        w["a"]


def test_bad_stitching(sig):
    w = cdig.windows(sig, 20, 10)
    good = np.zeros((len(w), C, 20))
    for bad in (good[1:], good[..., 1:], good[:, :1]):
        with pytest.raises(CdigValueError, match=r"pass the Attribution of exactly these windows"):
            w.stitch(_att(bad))
    with pytest.raises(CdigValueError, match=r"supported domains: \['time', 'stft'\]"):
        w.stitch(_att(good, domain="fourier"))
    with pytest.raises(CdigValueError, match="how='max'"):
        w.stitch(_att(good), how="max")
    with pytest.raises(CdigTypeError, match="Attribution"):
        w.stitch(good)
    with pytest.raises(CdigValueError, match="fs=10.0"):
        cdig.windows(sig, 20, 10, fs=20.0).stitch(_att(good, settings={"fs": 10.0}))


def test_stft_hops_that_do_not_fit(sig):
    stft = cdig.STFT(16, hop_length=4)
    model = _stft_model(32)

    def maps(w):
        return cdig.explain(model, torch.from_numpy(w[:]), stft, target=0, n_steps=2)["stft"]

    w = cdig.windows(sig, 32, 18)  # 18 is not a multiple of 4
    with pytest.raises(CdigValueError, match=r"hop \(18 samples\) is not a multiple of the STFT's hop_length \(4\)"):
        w.stitch(maps(w))
    w = cdig.windows(sig, 32, 16)  # the end-aligned tail window starts at 68 ... fine
    w.stitch(maps(w))
    w = cdig.windows(sig[:, :99], 32, 16)  # ... but here at 67: off the grid
    with pytest.raises(CdigValueError, match="starts at sample 67.*tail='pad'"):
        w.stitch(maps(w))
    cdig.windows(sig[:, :99], 32, 16, tail="pad").stitch(maps(cdig.windows(sig[:, :99], 32, 16, tail="pad")))


# --- end to end through a store ------------------------------------------------------------------
@requires_zarr
def test_explain_dataset_of_windows_then_stitch(sig, tmp_path):
    length, hop = 20, 10
    model, weight = _linear(C, length, seed=5)
    w = cdig.windows(sig, length, hop, fs=10.0, tail="pad")
    stft = cdig.STFT(8, hop_length=2)
    ds = cdig.explain_dataset(
        model, w, tmp_path / "rec.zarr", ("time", stft), target=0, batch_size=3, n_steps=4, fs=10.0, progress=False
    )
    assert ds.rows == len(w) and ds.settings["data"]["kind"] == "windows"
    st = w.stitch(ds.attribution("time"), how="sum")
    exact = weight[None] * w[:]
    summed, _, count = _overlap_add(exact, w.starts, T)
    np.testing.assert_allclose(st.values, summed, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(st.coverage, count)
    direct = cdig.explain(model, torch.from_numpy(w[:]), stft, target=0, n_steps=4, fs=10.0)["stft"]
    np.testing.assert_allclose(w.stitch(ds.attribution("stft")).values, w.stitch(direct).values, rtol=1e-10, atol=1e-12)
    part = w.stitch(ds.attribution("time", slice(3, 6)), rows=slice(3, 6))
    assert np.isfinite(part.values[:, 30:70]).all() and np.isnan(part.values[:, :30]).all()
    assert np.isnan(part.values[:, 70:]).all() and part.coverage[30:70].tolist() == [1] * 10 + [2] * 20 + [1] * 10


def test_channels_last_windows_stitch_on_the_canonical_axes(sig):
    torch.manual_seed(2)
    lin = torch.nn.Linear(10 * C, 1, bias=False).double()
    model = torch.nn.Sequential(torch.nn.Flatten(), lin).eval()  # reads (n, length, C) windows
    w = cdig.windows(sig.T, 10, 5, channels_first=False)
    att = cdig.explain(model, torch.from_numpy(w[:]), "time", target=0, n_steps=2, time_axis=1)["time"]
    exact = (lin.weight.detach().numpy().reshape(10, C)[None] * w[:]).transpose(0, 2, 1)  # (n, C, length)
    summed, _, _ = _overlap_add(exact, w.starts, T)
    np.testing.assert_allclose(w.stitch(att, how="sum").values, summed, rtol=1e-10, atol=1e-12)


def test_windows_are_copies_and_read_array_likes(sig):
    x = sig[0].copy()
    w = cdig.windows(x, 10, 5)
    w[0][0, 0] = 1e9
    assert x[0] != 1e9 and not np.shares_memory(w[0], x)
    wt = cdig.windows(torch.from_numpy(sig), 10, 5)  # a CPU tensor slices like an array
    np.testing.assert_array_equal(wt[2:4], np.stack([sig[:, 10:20], sig[:, 15:25]]))
