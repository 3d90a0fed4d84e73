"""cdig.ranking.rank_domains against planted truths and closed forms."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import cdig
from cdig.core.attribution import Attribution
from cdig.core.errors import CdigTypeError, CdigValueError
from cdig.datasets.planted import make_task
from cdig.domains import DOMAINS
from cdig.metrics import Curves
from cdig.ranking import COLUMNS, DomainRanking, concentration, normalised_entropy, rank_domains, residual_auc
from cdig.testing import FourierBandEnergy, LinearModel


def _one_sample_model(t_len: int = 64, at: int = 20) -> LinearModel:
    w = np.zeros((1, t_len), np.float32)
    w[0, at] = 1.0
    return LinearModel(w)


def _map(values: np.ndarray) -> Attribution:
    n = len(values)
    return Attribution(values, "time", ("channel", "time"), {}, np.zeros(n), np.ones(n), np.zeros(n), np.full(n, 8))


# --- planted truths ----------------------------------------------------------------------------


def test_a_model_reading_one_frequency_ranks_fourier_first() -> None:
    task = make_task("frequency", n=8, seed=0)  # class 0 is a 4 Hz tone: rFFT bin 16
    k = task.truth["bins"][0]
    r = rank_domains(FourierBandEnergy(k, k + 1), torch.as_tensor(task.X), ("time", "dct", "wavelet", "fourier"))
    assert r.order[0] == "fourier"
    fourier = r.table["fourier"]
    n_bins = task.X.shape[-1] // 2 + 1
    assert fourier["n_coefficients"] == n_bins
    # the map is bin k alone: one of n_bins holds all the mass
    assert fourier["concentration"] == pytest.approx(1 / n_bins)
    assert fourier["entropy"] == pytest.approx(0.0, abs=1e-5)
    # bin k goes at the first fraction (0.05): the distance falls from 1 to 0 over [0, 0.05]
    assert fourier["deletion_auc"] == pytest.approx(0.025, abs=1e-4)
    assert fourier["insertion_auc"] == pytest.approx(0.025, abs=1e-4)
    assert r.table["time"]["concentration"] > 0.3  # a tone's energy is read from every sample
    assert all(row["deletion_gain"] > 0 for row in r.rows)  # every domain's map beats chance in its domain


def test_a_model_reading_one_time_sample_ranks_time_first() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 1, 64)
    r = rank_domains(_one_sample_model(), x, ("fourier", "dct", "time", "wavelet"))
    assert r.order[0] == "time"
    time = r.table["time"]
    assert time["concentration"] == 1 / 64
    assert time["entropy"] == 0.0
    assert time["deletion_auc"] == pytest.approx(0.025, abs=1e-6)
    assert time["insertion_auc"] == pytest.approx(0.025, abs=1e-6)
    # the spread maps of the same model cancel in part: a random order of them wanders past the
    # baseline, so their gain over random is no guide across domains, but their AUC is
    for name in ("fourier", "dct"):
        assert r.table[name]["faithfulness"] > 0.1


# --- closed forms ------------------------------------------------------------------------------


def test_concentration_and_entropy_closed_forms() -> None:
    one_hot = np.zeros((3, 2, 5))
    one_hot[:, 1, 3] = [2.0, -1.0, 0.5]
    assert concentration(one_hot).tolist() == [0.1] * 3
    assert normalised_entropy(one_hot).tolist() == [0.0] * 3
    assert concentration(_map(one_hot)).tolist() == [0.1] * 3  # an Attribution reads its values
    uniform = -np.ones((2, 10))
    assert concentration(uniform).tolist() == [0.9, 0.9]  # 9 of 10 equal values hold 90%
    np.testing.assert_allclose(normalised_entropy(uniform), [1.0, 1.0])
    v = np.array([[0.5, -0.3, 0.2]])
    assert concentration(v).tolist() == [1.0]
    assert concentration(v, mass=0.8).tolist() == [2 / 3]
    np.testing.assert_allclose(normalised_entropy(np.array([[1.0, -1.0, 0.0, 0.0]])), [np.log(2) / np.log(4)])
    p = np.array([0.5, 0.3, 0.2])
    np.testing.assert_allclose(normalised_entropy(p[None]), [-(p * np.log(p)).sum() / np.log(3)])
    zero = np.zeros((1, 4))
    assert np.isnan(concentration(zero)).all() and np.isnan(normalised_entropy(zero)).all()
    assert normalised_entropy(np.array([[3.0]])).tolist() == [0.0]


def test_concentration_refuses_bad_mass_and_shapes() -> None:
    with pytest.raises(CdigValueError, match="mass"):
        concentration(np.ones((1, 3)), mass=1.5)
    with pytest.raises(CdigValueError, match="sample axis"):
        normalised_entropy(np.ones(3))


def test_residual_auc_closed_form() -> None:
    f = np.array([0.0, 0.25, 1.0])
    att = _map(np.zeros((1, 1, 2)))  # f(x) = 1, f(baseline) = 0
    c = Curves(
        "insertion", "time", f, np.array([[0.0, 1.0, 1.0]]), np.zeros(1), np.array([[0.0, -1.0, 1.0]]), np.zeros(1), 2, "absolute"
    )
    mine, rand = residual_auc(c, att)
    # distances |curve - 1|: map 1, 0, 0 -> 0.125; random 1, 2, 0 -> (1.5 * 0.25 + 1 * 0.75) = 1.125
    np.testing.assert_allclose(mine, [0.125])
    np.testing.assert_allclose(rand, [1.125])


# --- the result object and the arguments ---------------------------------------------------------


def test_one_explain_call_and_every_domain_in_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = cdig.api.explain

    def counting(*args: object, **kwargs: object) -> dict[str, Attribution]:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(cdig.api, "explain", counting)
    x = torch.randn(2, 2, 32)
    r = rank_domains(_one_sample_model(64), x, n_steps=8, fractions=[0, 0.5, 1], seed=3)
    assert len(calls) == 1
    linear = {name for name, make in DOMAINS.items() if make().linear}
    assert {"time", "fourier", "ica"} <= linear
    assert {row["domain"] for row in r.rows} == linear == set(r.order)
    assert [row["rank"] for row in r.rows] == list(range(1, len(linear) + 1))
    assert all(set(row) == set(COLUMNS) for row in r.rows)
    table = r.to_markdown().splitlines()
    assert len([line for line in table if line.startswith("| ") and line[2].isdigit()]) == len(linear)
    assert all(f"**{k}**" in r.to_markdown() for k in COLUMNS)
    assert isinstance(r, DomainRanking) and set(r.curves) == linear and set(r.attributions) == linear


def test_plot_draws_both_panels() -> None:
    pytest.importorskip("matplotlib")
    r = rank_domains(_one_sample_model(), torch.randn(2, 1, 64), ("time", "fourier"), n_steps=8)
    fig = r.plot()
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == r.order


def test_bad_domains_give_explains_error() -> None:
    model, x = _one_sample_model(), torch.randn(2, 1, 64)
    for bad, kind in (("nope", CdigValueError), ((), CdigValueError), (5, CdigTypeError)):
        with pytest.raises(kind) as expected:
            cdig.explain(model, x, bad)
        with pytest.raises(kind) as got:
            rank_domains(model, x, bad)
        assert str(got.value) == str(expected.value)


def test_a_small_domain_holding_the_one_feature_ranks_first() -> None:
    """A model reading one band of bins: the bands map is one of 4 values, the Fourier map spreads over the
    band's 6 bins. On a fraction grid the 4 bands could not reach the first step; the entropy ranks them
    first, and every map beats chance."""
    torch.manual_seed(0)
    x = torch.randn(6, 1, 64)
    bands = cdig.FrequencyBands({"low": (0, 5), "band": (5, 11), "high": (11, 25)}, fs=64.0)
    r = rank_domains(FourierBandEnergy(5, 11), x, (bands, "fourier", "time"), fs=64.0)
    assert r.order == ["bands", "fourier", "time"]
    assert r.table["bands"]["n_coefficients"] == 4 and r.table["bands"]["entropy"] == pytest.approx(0.0, abs=1e-5)
    # the Fourier map is the band's 6 bins of 33: sparser by share (concentration) than 1 of 4 bands
    assert r.table["fourier"]["concentration"] < r.table["bands"]["concentration"]
    assert all(row["deletion_gain"] > 0 and row["insertion_gain"] > 0 for row in r.rows)


def test_a_sparse_map_that_misleads_goes_after_the_maps_that_beat_chance() -> None:
    """The true Fourier map of a one-bin model, and a forged one on another bin, with the bin read ranked
    last (entropy 0 as well): the forgery's order of coefficients is worse than chance, so it goes after
    the DCT map, more spread but right."""
    torch.manual_seed(0)
    model, x = FourierBandEnergy(5, 6), torch.randn(4, 1, 64)
    maps = cdig.explain(model, x, ("fourier", "dct"), n_steps=16)
    true = maps["fourier"].values
    forged = np.full_like(true, 1e-9)  # every bin a trace, bin 5 (the one read) nothing: it goes last
    forged[..., 9] = true[..., 5]  # and the whole change on bin 9
    forged[..., 5] = 0.0
    wrong = dataclasses.replace(maps["fourier"], values=forged)
    r = rank_domains(model, x, attributions={"fourier": wrong, "dct": maps["dct"]})
    assert r.table["fourier"]["entropy"] == pytest.approx(0.0, abs=1e-5)
    assert r.table["dct"]["entropy"] > 0.3
    assert r.table["fourier"]["deletion_gain"] < 0 < r.table["dct"]["deletion_gain"]
    assert r.order == ["dct", "fourier"]
    # the true map ranks first
    assert rank_domains(model, x, attributions=maps).order == ["fourier", "dct"]


def test_given_maps_are_ranked_without_a_second_explanation(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model, x = FourierBandEnergy(5, 6), torch.randn(3, 1, 64)
    fresh = rank_domains(model, x, ("time", "fourier"), n_steps=16)
    monkeypatch.setattr(cdig.api, "explain", lambda *a, **k: pytest.fail("explained again"))
    given = rank_domains(model, x, attributions=fresh.attributions)
    assert given.order == fresh.order and given.rows == fresh.rows
    assert cdig.rank_domains is rank_domains  # offered at the top level too
    for bad, words in (({}, "non-empty dict"), ([1], "non-empty dict"), ({"time": 3}, "must be a cdig.Attribution")):
        with pytest.raises(CdigValueError, match=words):
            rank_domains(model, x, attributions=bad)
    with pytest.raises(CdigValueError, match="holds 3 sample"):
        rank_domains(model, x[:2], attributions=fresh.attributions)
    for extra, words in (({"domains": "time"}, "domains would not be used"), ({"method": "riemann_left"}, "method")):
        with pytest.raises(CdigValueError, match=words):
            rank_domains(model, x, attributions=fresh.attributions, **extra)


def test_the_order_rule_on_made_up_rows() -> None:
    """Beating chance both ways first; then entropy (to 3 decimals), faithfulness, the order asked for; a
    one-value map after the maps of several; NaN gains (no output change) count as not beating chance."""
    from cdig.ranking import _ordered

    def row(name: str, n: int, gains: tuple[float, float], entropy: float, faithfulness: float) -> dict:
        return dict.fromkeys(COLUMNS, 0.0) | {
            "domain": name, "n_coefficients": n, "deletion_gain": gains[0], "insertion_gain": gains[1],
            "entropy": entropy, "faithfulness": faithfulness,
        }  # fmt: skip

    rows = [
        row("spread", 64, (0.3, 0.2), 0.8, 0.1),
        row("misleads", 64, (-0.1, 0.5), 0.0, 0.9),
        row("one value", 1, (0.5, 0.5), 0.0, 0.0),
        row("sparse", 3, (0.2, 0.1), 0.30001, 0.3),
        row("sparse, more faithful", 129, (0.2, 0.1), 0.3, 0.05),
        row("no change", 33, (float("nan"), float("nan")), float("nan"), float("nan")),
    ]
    out = _ordered(rows)
    assert [r["domain"] for r in out] == ["sparse, more faithful", "sparse", "spread", "one value", "misleads", "no change"]
    assert [r["rank"] for r in out] == [1, 2, 3, 4, 5, 6]


def test_gradients_only_are_refused() -> None:
    with pytest.raises(CdigValueError, match="multiply_by_inputs"):
        rank_domains(_one_sample_model(), torch.randn(2, 1, 64), "time", multiply_by_inputs=False)
