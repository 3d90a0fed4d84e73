"""``cdig explain --rank``: the explained domains ranked (cdig.ranking.rank_domains), written and printed.

The model reads one rFFT bin (the energy of bin ``K``), so the closed form is known: its Fourier map
is that one bin (concentration ``1 / (T // 2 + 1)``), its time map spreads over every sample, and the
Fourier domain ranks first.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from cdig.cli import main
from cdig.testing import requires_torch

pytestmark = requires_torch

N, T, K = 3, 16, 3
FAST = ["--steps", "8", "--no-progress"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import torch

    class OneBin(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, T) -> (N,): the energy of rFFT bin K
            return (torch.fft.rfft(x, dim=-1)[:, :, 3].abs() ** 2).sum(dim=1)

    d = tmp_path_factory.mktemp("rank")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(OneBin()), str(d / "m.pt"))
    t = np.arange(T)
    rng = np.random.default_rng(0)
    x = np.cos(2 * np.pi * K * t / T + rng.uniform(0, 2 * np.pi, (N, 1, 1))) + 0.3 * rng.standard_normal((N, 1, T))
    np.save(d / "x.npy", x.astype(np.float32))
    return d


def _explain(files, out, *extra):
    return main(["explain", str(files / "m.pt"), str(files / "x.npy"), "--domain", "time", "--domain", "fourier", *FAST,
                 "--out", str(out), *extra])  # fmt: skip


def test_rank_writes_and_prints_the_table(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert _explain(files, out, "--rank") == 0
    stdout = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ranking"] == {"order": ["fourier", "time"], "file": "ranking.md"}
    assert {"ranking.md", "ranking.png"} <= set(summary["files"])
    assert (out / "ranking.png").stat().st_size > 0

    text = (out / "ranking.md").read_text()
    assert text.startswith("# Domains ranked: m.pt on x.npy")
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| rank |"))
    columns = [c.strip() for c in lines[head].strip("|").split("|")]
    first = dict(zip(columns, (c.strip() for c in lines[head + 2].strip("|").split("|"))))
    second = dict(zip(columns, (c.strip() for c in lines[head + 3].strip("|").split("|"))))
    assert (first["rank"], first["domain"], second["domain"]) == ("1", "fourier", "time")
    assert first["n_coefficients"] == str(T // 2 + 1) and second["n_coefficients"] == str(T)
    # the map is one bin of the T // 2 + 1: the smallest share of coefficients holding 90 % of it
    assert first["concentration"] == f"{100 / (T // 2 + 1):.3g}%"
    assert "- **faithfulness**:" in text and "- **concentration**:" in text  # the legend: how to read each column

    assert "domains ranked best first: fourier, time" in stdout
    assert "| 1 | fourier |" in stdout and "| 2 | time |" in stdout


def test_rank_ranks_the_written_maps(files, tmp_path, capsys, monkeypatch):
    """--rank ranks the maps the run wrote, with no second explanation: one call to cdig.explain in all,
    and the ranking's completeness errors are the written maps'."""
    import cdig
    import cdig.api
    from cdig import Attribution

    calls = []
    real = cdig.api.explain

    def counting(*args, **kwargs):
        calls.append(kwargs.get("baselines"))
        return real(*args, **kwargs)

    monkeypatch.setattr(cdig, "explain", counting)
    monkeypatch.setattr(cdig.api, "explain", counting)
    out = tmp_path / "out"
    assert _explain(files, out, "--rank", "--baseline", "mean") == 0
    assert len(calls) == 1
    capsys.readouterr()
    rows = (out / "ranking.md").read_text().splitlines()
    head = next(i for i, line in enumerate(rows) if line.startswith("| rank |"))
    columns = [c.strip() for c in rows[head].strip("|").split("|")]
    for line in rows[head + 2 : head + 4]:
        row = dict(zip(columns, (c.strip() for c in line.strip("|").split("|"))))
        att = Attribution.load(out / f"{row['domain']}.npz")
        assert float(row["max_abs_delta"]) == pytest.approx(float(np.max(np.abs(att.delta))), rel=1e-3, abs=1e-9)


def test_rank_without_figures_and_quiet(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert _explain(files, out, "--rank", "--no-figures", "-q") == 0
    assert capsys.readouterr().out == ""
    summary = json.loads((out / "summary.json").read_text())
    assert "ranking.md" in summary["files"] and not any(f.endswith(".png") for f in summary["files"])
    assert (out / "ranking.md").is_file() and not (out / "ranking.png").exists()


def test_no_rank_no_ranking(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert _explain(files, out, "--no-figures") == 0
    capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    assert "ranking" not in summary and not (out / "ranking.md").exists()


def test_force_replaces_the_ranking(files, tmp_path, capsys):
    """ranking.md is one of cdig's files: --force replaces it, and a run without --rank removes it."""
    out = tmp_path / "out"
    assert _explain(files, out, "--rank", "--no-figures") == 0
    assert _explain(files, out, "--rank", "--no-figures", "--force") == 0
    assert (out / "ranking.md").is_file()
    assert _explain(files, out, "--no-figures", "--force") == 0
    assert not (out / "ranking.md").exists()
    capsys.readouterr()


def test_help_names_rank(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    out = capsys.readouterr().out
    assert "--rank" in out and "ranking.md" in out
