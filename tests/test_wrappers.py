"""Training wrappers (cdig.wrappers.unwrap_model): real skorch nets and aeon deep learners, stand-ins
for fastai and scikeras; the unwrapped networks explained against closed forms and completeness."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.wrappers import unwrap_model

N, C, T, K = 6, 2, 16, 3


def _stand_in(module_name: str, name: str, **attrs):
    """An instance of a class called ``name`` defined in ``module_name``, with ``attrs`` set on it."""
    cls = type(name, (), {"__module__": module_name})
    obj = cls()
    for k, v in attrs.items():
        setattr(obj, k, v)
    return obj


# --- plain models and holders ---------------------------------------------------------------------


def test_plain_models_are_returned_as_they_are():
    lin = torch.nn.Linear(3, 2)
    for m in (lin, abs, lambda v: v, "model.pt", None, 3.0, torch.nn.Linear):
        out, note = unwrap_model(m)
        assert out is m and note is None


def test_a_callable_module_holding_a_model_is_not_unwrapped():
    class Outer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = torch.nn.Linear(3, 1)

        def forward(self, v):
            return 2 * self.model(v)

    outer = Outer()
    assert unwrap_model(outer) == (outer, None)


@pytest.mark.parametrize("attr", ["module_", "model_", "model", "module", "network", "net"])
def test_a_non_callable_holder_names_the_attribute(attr):
    holder = _stand_in("mylib.training", "Trainer", **{attr: torch.nn.Linear(3, 1)})
    with pytest.raises(
        cdig.CdigTypeError, match=rf"model \(Trainer\) is not callable; it holds a model in Trainer\.{attr} — pass that"
    ):
        unwrap_model(holder)


def test_a_non_callable_object_without_a_model_is_left_to_the_engine():
    obj = _stand_in("mylib", "Thing", model=torch.nn.Linear, net=None)  # a class and None hold no model
    assert unwrap_model(obj) == (obj, None)
    with pytest.raises(cdig.CdigTypeError, match="model must be callable"):
        cdig.explain(obj, np.zeros((1, 1, 4)), "time")


# --- stand-ins: fastai / tsai and scikeras -------------------------------------------------------


@pytest.mark.parametrize("module", ["fastai.learner", "tsai.learner"])
def test_learner_gives_its_model(module):
    net = torch.nn.Linear(3, 2)
    learn = _stand_in(module, "Learner", model=net)
    out, note = unwrap_model(learn)
    assert out is net and note.startswith("Learner.model")


def test_scikeras_gives_its_fitted_model():
    keras_model = torch.nn.Linear(3, 2)  # any callable stands in for the Keras model
    out, note = unwrap_model(_stand_in("scikeras.wrappers", "KerasClassifier", model_=keras_model))
    assert out is keras_model and note.startswith("KerasClassifier.model_")
    with pytest.raises(cdig.CdigTypeError, match=r"KerasRegressor that is not fitted: call est\.fit.*est\.model_"):
        unwrap_model(_stand_in("scikeras.wrappers", "KerasRegressor"))


# --- skorch (real) ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def skorch_net():
    skorch = pytest.importorskip("skorch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(C * T, K, bias=False))
    net = skorch.NeuralNetClassifier(
        module, criterion=torch.nn.CrossEntropyLoss, max_epochs=1, batch_size=8, train_split=None, verbose=0
    )
    r = np.random.default_rng(0)
    net.fit(r.normal(size=(20, C, T)).astype("float32"), r.integers(0, K, 20))
    return net


def test_skorch_net_gives_its_module(skorch_net):
    out, note = unwrap_model(skorch_net)
    assert out is skorch_net.module_
    assert note == "NeuralNetClassifier.module_: the fitted network (its raw outputs, e.g. logits, not predict_proba)"


def test_skorch_module_explained_exactly(skorch_net, rng):
    """A linear classifier f_k(x) = w_k·x: IG from a zero baseline is w_k ⊙ x, exactly."""
    x = rng.normal(size=(N, C, T)).astype("float32")
    inner, _ = unwrap_model(skorch_net)
    tg = [0, 2, 1, 1, 0, 2]
    a = cdig.explain(inner, x, ("time",), target=tg, n_steps=4)["time"]
    w = skorch_net.module_[1].weight.detach().numpy().reshape(K, C, T)
    np.testing.assert_allclose(a.values, w[tg] * x, rtol=0, atol=1e-6)
    # the explained outputs are the net's logits (skorch's forward), not predict_proba's
    logits = skorch_net.forward(x).numpy()
    np.testing.assert_allclose(a.output, logits[np.arange(N), tg], rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(a.delta) <= 1e-4 * np.abs(a.output - a.baseline_output) + 1e-6)


def test_skorch_net_through_explain(skorch_net, rng):
    # needs the engine to call unwrap_model (engine.prepare) and record settings["model_unwrapped"]
    x = rng.normal(size=(N, C, T)).astype("float32")
    a = cdig.explain(skorch_net, x, ("time",), target=1, n_steps=4)["time"]
    w = skorch_net.module_[1].weight.detach().numpy().reshape(K, C, T)
    np.testing.assert_allclose(a.values, w[1] * x, rtol=0, atol=1e-6)
    assert a.settings["model_unwrapped"].startswith("NeuralNetClassifier.module_")


def test_skorch_not_initialized_braindecode_style():
    """braindecode's EEGClassifier is a skorch net: a subclass in a braindecode module is recognised."""
    skorch = pytest.importorskip("skorch")
    EEGClassifier = type("EEGClassifier", (skorch.NeuralNetClassifier,), {"__module__": "braindecode.classifier"})
    net = EEGClassifier(torch.nn.Linear(4, 2))
    msg = (
        r"model is a skorch EEGClassifier that is not initialized: call net\.initialize\(\) or net\.fit\(\.\.\.\) "
        r"first, then pass net\.module_ \(or the net\)"
    )
    with pytest.raises(cdig.CdigTypeError, match=msg):
        unwrap_model(net)
    with pytest.raises(cdig.CdigTypeError, match=msg):  # through the engine (once it calls unwrap_model)
        cdig.explain(net, np.zeros((2, 1, 4), dtype="float32"), "time")
    net.initialize()
    out, note = unwrap_model(net)
    assert out is net.module_ and note.startswith("EEGClassifier.module_: the initialized (not fitted) network")


# --- aeon (real, Keras on TensorFlow) --------------------------------------------------------------


@pytest.fixture(scope="module")
def aeon_data():
    r = np.random.default_rng(1)
    return r.normal(size=(20, 2, 32)).astype("float32"), np.array([0, 1] * 10)


@pytest.fixture(scope="module")
def fcn(aeon_data, tmp_path_factory):
    dl = pytest.importorskip("aeon.classification.deep_learning")
    pytest.importorskip("tensorflow")
    X, y = aeon_data
    est = dl.FCNClassifier(
        n_epochs=1,
        n_layers=2,
        n_filters=[4, 4],
        kernel_size=[3, 3],
        batch_size=8,
        verbose=False,
        random_state=0,
        file_path=f"{tmp_path_factory.mktemp('fcn')}/",  # aeon writes (and removes) a checkpoint there
    )
    return est.fit(X, y)


def test_aeon_fcn_gives_its_keras_network(fcn):
    out, note = unwrap_model(fcn)
    assert out is fcn.model_
    assert note.startswith("FCNClassifier.model_: the fitted Keras network") and "x.transpose(0, 2, 1)" in note


def _check_complete(a, tol):
    gap = np.abs(a.output - a.baseline_output)
    assert np.all(np.abs(a.delta) <= tol * gap + 1e-6), (a.delta, gap)


def test_aeon_fcn_explained(fcn, aeon_data):
    X, _ = aeon_data
    x = X[:4]
    inner, _ = unwrap_model(fcn)
    a = cdig.explain(inner, x.transpose(0, 2, 1), ("time",), target=1, n_steps=64)["time"]
    assert a.values.shape == (4, 2, 32)  # (N, C, T): the time axis was read as axis 1 of (N, T, C)
    # the explained output is aeon's own probability of class 1 (the input layout is aeon's)
    np.testing.assert_allclose(a.output, fcn.predict_proba(x)[:, 1], rtol=1e-4, atol=1e-6)
    _check_complete(a, 1e-2)


def test_aeon_fcn_through_explain(fcn, aeon_data):
    # needs the engine to call unwrap_model (engine.prepare) and record settings["model_unwrapped"]
    x = aeon_data[0][:4]
    a = cdig.explain(fcn, x.transpose(0, 2, 1), ("time",), target=1, n_steps=64)["time"]
    np.testing.assert_allclose(a.output, fcn.predict_proba(x)[:, 1], rtol=1e-4, atol=1e-6)
    assert a.settings["model_unwrapped"].startswith("FCNClassifier.model_")


def test_aeon_not_fitted():
    dl = pytest.importorskip("aeon.classification.deep_learning")
    with pytest.raises(cdig.CdigTypeError, match=r"aeon FCNClassifier that is not fitted: call est\.fit\(X, y\).*est\.model_"):
        unwrap_model(dl.FCNClassifier(n_epochs=1))


def test_aeon_ensemble_refused_and_the_suggested_average_works(aeon_data, tmp_path):
    dl = pytest.importorskip("aeon.classification.deep_learning")
    pytest.importorskip("tensorflow")
    X, y = aeon_data
    est = dl.InceptionTimeClassifier(
        n_classifiers=2,
        n_epochs=1,
        depth=1,
        n_filters=4,
        n_conv_per_layer=1,
        kernel_size=4,
        bottleneck_size=4,
        batch_size=8,
        random_state=0,
        file_path=f"{tmp_path}/",
    ).fit(X, y)
    with pytest.raises(cdig.CdigTypeError, match=r"ensemble.*est\.classifiers_\[i\]\.model_") as info:
        unwrap_model(est)
    one_liner = "lambda x: sum(m.model_(x) for m in est.classifiers_) / len(est.classifiers_)"
    assert one_liner in str(info.value)
    f = eval(one_liner, {"est": est})  # the message's own suggestion, as written
    x = X[:3]
    a = cdig.explain(f, x.transpose(0, 2, 1), ("time",), target=1, n_steps=64, backend="tensorflow")["time"]
    np.testing.assert_allclose(a.output, est.predict_proba(x)[:, 1], rtol=1e-4, atol=1e-6)
    _check_complete(a, 1e-2)
    with pytest.raises(cdig.CdigTypeError, match="ensemble"):  # unfitted ensembles are refused alike
        unwrap_model(dl.InceptionTimeClassifier(n_classifiers=2))
