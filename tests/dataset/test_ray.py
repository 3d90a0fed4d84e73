"""engine="ray": a local two-worker Ray cluster writes the very store the serial engine writes."""

from __future__ import annotations

import os

import numpy as np
import pytest

import cdig

zarr = pytest.importorskip("zarr")
torch = pytest.importorskip("torch")
ray = pytest.importorskip("ray")

from .test_resume import assert_identical  # noqa: E402

pytestmark = pytest.mark.slow

N, C, T = 22, 2, 32
KW = dict(target="predicted", batch_size=3, n_steps=8, progress=False)
DOMAINS = ("time", "fourier")


def _model():
    # built inside the function, so that Ray ships it by value (the test module is not importable in a worker)
    torch.manual_seed(0)
    return (
        torch.nn.Sequential(torch.nn.Conv1d(C, 4, 5, padding=2), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(4 * T, 3))
        .double()
        .eval()
    )


@pytest.fixture(scope="module")
def cluster():
    started = not ray.is_initialized()
    if started:
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # no traffic off this machine
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).normal(size=(N, C, T))


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "serial.zarr"
    cdig.explain_dataset(_model(), data, out, DOMAINS, **KW)
    return out


def test_two_workers_write_the_serial_store(cluster, data, reference, tmp_path):
    ds = cdig.explain_dataset(_model(), data, tmp_path / "ray.zarr", DOMAINS, engine="ray", num_workers=2, **KW)
    assert ds.complete and ds.rows == N and ds.done() == frozenset(range(8))
    assert_identical(tmp_path / "ray.zarr", reference)
    assert ray.is_initialized(), "a cluster the caller started is left running"


def test_model_factory_builds_the_model_in_each_actor(cluster, data, reference, tmp_path):
    def factory():
        return _model()

    cdig.explain_dataset(_model(), data, tmp_path / "f.zarr", DOMAINS, engine="ray", num_workers=2, model_factory=factory, **KW)
    assert_identical(tmp_path / "f.zarr", reference)


def test_resumes_a_store_begun_by_the_serial_engine(cluster, data, reference, tmp_path):
    out = tmp_path / "resumed.zarr"

    def failing():
        for i, start in enumerate(range(0, N, 3)):
            if i == 3:
                raise KeyboardInterrupt
            yield data[start : start + 3]

    with pytest.raises(KeyboardInterrupt):
        cdig.explain_dataset(_model(), failing(), out, DOMAINS, **KW)
    assert cdig.open_explained(out).done() == frozenset({0, 1, 2})
    full = (data[s : s + 3] for s in range(0, N, 3))
    ds = cdig.explain_dataset(_model(), full, out, DOMAINS, engine="ray", num_workers=2, **KW)
    assert ds.complete and ds.rows == N
    # the serial run of the same generator source, uninterrupted: the very same store
    again = tmp_path / "serial_gen.zarr"
    cdig.explain_dataset(_model(), (data[s : s + 3] for s in range(0, N, 3)), again, DOMAINS, **KW)
    assert_identical(out, again)
    np.testing.assert_array_equal(ds.attribution("fourier").values, cdig.open_explained(reference).attribution("fourier").values)


def test_an_error_in_an_actor_is_raised_as_itself(cluster, data, tmp_path):
    class Broken(torch.nn.Module):  # local: shipped by value
        def forward(self, x):
            if x.shape[0] and float(x.abs().max()) > 0:
                raise RuntimeError("the model broke on purpose")
            return x.flatten(1)[:, :3]

    with pytest.raises(RuntimeError, match="broke on purpose") as info:
        cdig.explain_dataset(Broken(), data, tmp_path / "e.zarr", DOMAINS, engine="ray", num_workers=1, **KW)
    assert any("Ray actor" in n for n in getattr(info.value, "__notes__", []))
    assert not cdig.open_explained(tmp_path / "e.zarr").done()


def test_a_factory_with_other_weights_is_refused(cluster, data, tmp_path):
    def other():
        torch.manual_seed(1)
        return (
            torch.nn.Sequential(
                torch.nn.Conv1d(C, 4, 5, padding=2), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(4 * T, 3)
            )
            .double()
            .eval()
        )

    with pytest.raises(cdig.CdigValueError, match="model_factory"):
        cdig.explain_dataset(_model(), data, tmp_path / "w.zarr", DOMAINS, engine="ray", num_workers=1, model_factory=other, **KW)


def test_bad_num_workers(cluster, data, tmp_path):
    with pytest.raises(cdig.CdigValueError, match="num_workers"):
        cdig.explain_dataset(_model(), data, tmp_path / "n.zarr", DOMAINS, engine="ray", num_workers=0, **KW)


class _FakeRay:
    def __init__(self, **resources):
        self.resources = resources

    def cluster_resources(self):
        return self.resources


@pytest.mark.parametrize(
    "resources, workers, expected",
    [
        ({"CPU": 8.0}, None, (8, {"num_cpus": 1}, True)),  # one actor per CPU, one thread each
        ({"CPU": 16.0, "GPU": 4.0}, None, (4, {"num_gpus": 1}, False)),  # one actor per GPU
        ({"CPU": 16.0, "GPU": 1.0}, 2, (2, {"num_gpus": 0.5}, False)),  # two actors share the GPU
        ({"CPU": 2.0}, 3, (3, {"num_cpus": 0.5}, True)),  # never more asked for than there is
    ],
)
def test_actors_and_their_resources(resources, workers, expected):
    from cdig.dataset.ray_engine import _plan

    assert _plan(_FakeRay(**resources), workers) == expected


def test_without_ray_the_error_says_what_to_install(monkeypatch):
    import sys

    from cdig.dataset.ray_engine import _ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'cdig\[ray\]'"):
        _ray()
