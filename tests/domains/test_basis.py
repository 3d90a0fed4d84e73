"""The linear-basis domain (PCA and any fitted basis of the channels): closed forms, sklearn, projections."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.core.rules import RULES
from cdig.domains.basis import LinearBasis

N, C, T = 4, 3, 40


class BasisPath(LinearBasis):
    """The same transform, declared nonlinear: integrated along its own path in the coefficients."""

    name = "basis_path"
    linear = False


def basis_linear_map(b: np.ndarray, m: np.ndarray, mean: np.ndarray, x: np.ndarray, x0: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per (component, time) map of ``f(x) = <w, x>``: ``Δz ⊙ (Mᵀ w)``.

    For ``z = B (x - mean)`` and ``x = M z + mean``.
    """
    dz = np.einsum("kc,nct->nkt", b, (x - mean[:, None]) - (x0 - mean[:, None]))
    return dz * (m.T @ w)[None]


@pytest.fixture
def data(rng):
    mixing = rng.normal(size=(C, C)) + 2 * np.eye(C)
    pooled = rng.normal(size=(3000, C)) * [3.0, 1.0, 0.3] @ mixing.T + [1.0, -2.0, 0.5]
    x = (rng.normal(size=(N, T, C)) * [3.0, 1.0, 0.3] @ mixing.T + [1.0, -2.0, 0.5]).transpose(0, 2, 1)
    return pooled, np.ascontiguousarray(x)


@pytest.fixture
def linear_case(rng, models, data):
    w = rng.normal(size=(C, T))
    return models.Linear(w, 0.2).eval(), w, data[1]


# --- the transform ---------------------------------------------------------------------------------


@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("k", [C, 2])
def test_sklearn_pca_round_trip(data, whiten, k):
    from sklearn.decomposition import PCA

    pooled, x = data
    pca = PCA(n_components=k, whiten=whiten).fit(pooled)
    dom = LinearBasis.from_sklearn(pca).fit(x)
    assert dom.n_components_ == k and dom.orthonormal_ is (not whiten)
    z = dom.forward(x, np)
    assert z.shape == (N, k, T)
    np.testing.assert_allclose(z[1].T, pca.transform(x[1].T), atol=1e-10)
    back = dom.inverse(z, np)
    np.testing.assert_allclose(back[1].T, pca.inverse_transform(z[1].T), atol=1e-10)
    if k == C:
        np.testing.assert_allclose(back, x, atol=1e-10)
        assert "note" not in dom.describe()
    else:
        assert "reconstruction" in dom.describe()["note"]
    # the object itself is accepted as components, too
    np.testing.assert_allclose(LinearBasis(pca).fit(x).forward(x, np), z, atol=0)


def test_orthonormal_rows_use_the_transpose_and_others_the_pseudo_inverse(rng):
    q, _ = np.linalg.qr(rng.normal(size=(C, C)))
    dom = LinearBasis(q.T).fit(np.zeros((1, C, 5)))
    assert dom.orthonormal_ and np.array_equal(dom.inverse_, q)
    b = rng.normal(size=(C, C))
    dom = LinearBasis(b, mean=[1.0, 2.0, 3.0]).fit(np.zeros((1, C, 5)))
    assert not dom.orthonormal_
    np.testing.assert_allclose(dom.inverse_ @ b, np.eye(C), atol=1e-12)
    x = rng.normal(size=(2, C, 7))
    np.testing.assert_allclose(dom.inverse(dom.forward(x, np), np), x, atol=1e-12)


def test_runs_on_torch_with_gradients(rng):
    b = rng.normal(size=(2, C))
    dom = LinearBasis(b, mean=np.ones(C)).fit(np.zeros((1, C, T)))
    xp = cdig.backends.get_backend_by_name("torch").xp
    z = torch.as_tensor(rng.normal(size=(N, 2, T)), dtype=torch.float32).requires_grad_(True)
    x = dom.inverse(z, xp)
    assert x.dtype == torch.float32 and x.shape == (N, C, T)
    x.sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), np.broadcast_to(np.linalg.pinv(b).sum(0)[None, :, None], z.shape), rtol=1e-5)


# --- attributions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(RULES))
def test_linear_model_closed_form_full_rank(rng, linear_case, method):
    model, w, x = linear_case
    b = rng.normal(size=(C, C)) + 2 * np.eye(C)  # not orthonormal
    mean = np.array([0.5, -1.0, 2.0])
    x0 = rng.normal(size=(N, C, T))
    res = cdig.explain(
        model, torch.as_tensor(x), [LinearBasis(b, mean), BasisPath(b, mean)], baselines=x0, n_steps=3, method=method
    )
    m = np.linalg.solve(b, np.eye(C))  # the inverse matrix, built independently
    expected = basis_linear_map(b, m, mean, x, x0, w)
    for name in ("basis", "basis_path"):
        a = res[name]
        assert a.values.shape == (N, C) and a.dims == ("component",)
        np.testing.assert_allclose(a.extras["per_time"], expected, rtol=0, atol=1e-11)
        np.testing.assert_allclose(a.values, expected.sum(-1), rtol=0, atol=1e-11)
        np.testing.assert_allclose(a.delta, 0.0, atol=1e-10)
    np.testing.assert_allclose(expected.sum((1, 2)), (w * (x - x0)).sum((1, 2)), atol=1e-10)


def test_fewer_components_explain_the_reconstruction(rng, linear_case):
    model, w, x = linear_case
    b = rng.normal(size=(2, C))  # K < C, not orthonormal
    mean = np.array([0.5, -1.0, 2.0])
    x0 = rng.normal(size=(N, C, T))
    a = cdig.explain(model, torch.as_tensor(x), LinearBasis(b, mean), baselines=x0, n_steps=2)["basis"]
    m = b.T @ np.linalg.inv(b @ b.T)  # right inverse of full-row-rank B (= its pseudo-inverse)
    expected = basis_linear_map(b, m, mean, x, x0, w)
    np.testing.assert_allclose(a.extras["per_time"], expected, rtol=0, atol=1e-11)

    def recon(v):
        return np.einsum("ck,kd,ndt->nct", m, b, v - mean[:, None]) + mean[:, None]

    np.testing.assert_allclose(a.output, (w * recon(x)).sum((1, 2)) + 0.2, atol=1e-10)
    np.testing.assert_allclose(a.baseline_output, (w * recon(x0)).sum((1, 2)) + 0.2, atol=1e-10)
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-10)
    assert "reconstruction" in a.settings["domain"]["note"]


@pytest.mark.parametrize("act", ["tanh", "gelu", "softplus"])
def test_completeness_smooth_model(rng, models, data, act):
    from sklearn.decomposition import PCA

    pooled, x = data
    model = models.conv_net(channels=C, length=T, n_out=2, act=act, dtype=torch.float64)
    doms = [LinearBasis(PCA().fit(pooled)), BasisPath(rng.normal(size=(C, C)))]
    res = cdig.explain(model, torch.as_tensor(x), doms, target=1, n_steps=64, method="gausslegendre")
    for a in res.values():
        assert np.all(a.relative_delta < 1e-3), a.relative_delta


def test_planted_truth_one_component(rng, data):
    """A model reading only component 1 of the basis gets all attribution on component 1."""
    pooled, x = data
    q, _ = np.linalg.qr(rng.normal(size=(C, C)))
    b, mean = q.T, pooled.mean(0)
    row = torch.as_tensor(b[1])

    def model(v):
        s = torch.einsum("c,nct->nt", row, v - torch.as_tensor(mean)[:, None])
        return torch.tanh(s).pow(2).sum(-1)

    a = cdig.explain(model, torch.as_tensor(x), LinearBasis(b, mean), baselines=mean[None, :, None], n_steps=32, backend="torch")[
        "basis"
    ]
    np.testing.assert_allclose(a.values[:, [0, 2]], 0.0, atol=1e-12)
    np.testing.assert_allclose(a.values[:, 1], a.output - a.baseline_output, rtol=1e-3)


def test_shares_the_time_pass_unless_it_projects(rng, models, data):
    from sklearn.decomposition import PCA

    pooled, x = data
    counter = models.CallCounter(models.conv_net(channels=C, length=T, n_out=2, dtype=torch.float64))
    xt = torch.as_tensor(x)
    cdig.explain(counter, xt, ("time",), target=0, n_steps=16)
    alone = counter.rows
    counter.reset()
    cdig.explain(counter, xt, ("time", LinearBasis(PCA().fit(pooled))), target=0, n_steps=16)
    assert counter.rows == alone
    counter.reset()
    cdig.explain(counter, xt, ("time", LinearBasis(PCA(n_components=2).fit(pooled))), target=0, n_steps=16)
    assert counter.rows > alone  # the reconstruction differs from x: a pass of its own


def test_coords_units_and_settings(rng, linear_case):
    model, w, x = linear_case
    a = cdig.explain(model, torch.as_tensor(x), LinearBasis(rng.normal(size=(2, C))), n_steps=2, fs=10.0)["basis"]
    assert a.values.shape == (N, 2) and a.extras["per_time"].shape == (N, 2, T)
    np.testing.assert_array_equal(a.coords["component"], [0, 1])
    np.testing.assert_allclose(a.coords["time"], np.arange(T) / 10.0)
    assert a.units["time"] == "s" and a.coefficients.shape == (N, 2, T)
    d = a.settings["domain"]
    assert (d["name"], d["class"], d["n_components"], d["orthonormal"], d["source"]) == (
        "basis",
        "LinearBasis",
        2,
        False,
        "ndarray",
    )


# --- bad input -------------------------------------------------------------------------------------


def test_bad_inputs(rng):
    from sklearn.decomposition import PCA

    x = np.zeros((1, C, 8))
    with pytest.raises(cdig.CdigValueError, match="PCA.*not fitted.*components_"):
        LinearBasis.from_sklearn(PCA())
    with pytest.raises(cdig.CdigValueError, match="not fitted"):
        LinearBasis(PCA()).fit(x)
    with pytest.raises(cdig.CdigValueError, match="not fitted"):
        LinearBasis(np.eye(C)).forward(x, np)
    with pytest.raises(cdig.CdigValueError, match="components has 2 columns.*input has 3 channels"):
        LinearBasis(np.eye(2)).fit(x)
    with pytest.raises(cdig.CdigValueError, match="components has 2 columns.*input has 3 channels"):
        LinearBasis(PCA().fit(rng.normal(size=(50, 2)))).fit(x)
    with pytest.raises(cdig.CdigValueError, match="2-D"):
        LinearBasis(np.ones(C)).fit(x)
    with pytest.raises(cdig.CdigValueError, match="NaN"):
        LinearBasis(np.full((C, C), np.nan)).fit(x)
    with pytest.raises(cdig.CdigValueError, match="mean has shape"):
        LinearBasis(np.eye(C), mean=[1.0, 2.0]).fit(x)
    with pytest.raises(cdig.CdigTypeError, match="components must be"):
        LinearBasis("pca").fit(x)
    with pytest.raises(cdig.CdigTypeError, match="real"):
        LinearBasis(np.eye(C) * 1j).fit(x)


def test_bad_channels_through_explain(models):
    model = models.conv_net(channels=C, length=T, n_out=2)
    with pytest.raises(cdig.CdigValueError, match="input has 3 channels"):
        cdig.explain(model, torch.randn(2, C, T), [LinearBasis(np.eye(2))], target=0)


@pytest.mark.parametrize("framework", ["jax", "tensorflow"])
def test_other_backends_give_the_closed_form(rng, framework, foreign_linear):
    """A linear function in JAX / TensorFlow (channels last, float32) on the shared pass."""
    w = rng.normal(size=(C, T)).astype(np.float32)
    x = rng.normal(size=(N, T, C)).astype(np.float32)  # (N, T, C): the frameworks' default layout
    b = rng.normal(size=(C, C)) + 2 * np.eye(C)
    mean = np.array([0.5, -1.0, 2.0])
    f, xin = foreign_linear(framework, w, x)
    a = cdig.explain(f, xin, [LinearBasis(b, mean)], n_steps=2, backend=framework)["basis"]
    xc = x.transpose(0, 2, 1).astype(np.float64)
    expected = basis_linear_map(b, np.linalg.solve(b, np.eye(C)), mean, xc, np.zeros_like(xc), w.astype(np.float64))
    np.testing.assert_allclose(a.extras["per_time"], expected, rtol=0, atol=1e-4 * np.abs(expected).max())


def test_other_sklearn_bases_are_accepted(data):
    from sklearn.decomposition import FastICA, TruncatedSVD

    pooled, x = data
    ica = FastICA(whiten="unit-variance", random_state=0, max_iter=1000).fit(pooled)
    svd = TruncatedSVD(n_components=2, random_state=0).fit(pooled)
    for est in (ica, svd):
        dom = LinearBasis(est).fit(x)
        np.testing.assert_allclose(dom.forward(x, np)[0].T, est.transform(x[0].T), atol=1e-9)
    np.testing.assert_allclose(LinearBasis(ica).fit(x).inverse_, ica.mixing_, atol=1e-8)
    assert LinearBasis(svd).fit(x).orthonormal_  # TruncatedSVD: orthonormal rows, no mean
