"""Concurrent explanations of one model leave it exactly as it was (issue 13, item 6).

``TorchBackend.prepared`` puts the model in eval mode with frozen parameters for an explanation and
restores it afterwards. Explanations of one model running at the same time in several threads share
that preparation (:func:`cdig.backends.base.shared_preparation`): the first saves the model's own
state, the last restores it. Without that, a thread starting while another holds the model prepared
saves the prepared state as the model's own and "restores" it at the end: the model is left frozen
and in eval mode (:func:`test_unshared_preparation_leaves_the_model_changed` shows that this test
catches it).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

import cdig
from cdig.backends.base import shared_preparation
from cdig.testing import requires_torch

pytestmark = [requires_torch, pytest.mark.filterwarnings("ignore::cdig.CdigWarning")]

THREADS, ROUNDS = 4, 10
N, C, T = 3, 2, 48


def _model():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(C, 4, 5),
        torch.nn.BatchNorm1d(4),
        torch.nn.Tanh(),
        torch.nn.Dropout(0.3),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * (T - 4), 3),
    )
    with torch.no_grad():  # running statistics that are not the defaults
        model[1].running_mean.uniform_(-0.5, 0.5)
        model[1].running_var.uniform_(0.5, 2.0)
    model.train()
    model[0].weight.requires_grad_(False)  # some frozen parameters
    model[5].eval()  # a mixture of modes
    return model


def _state(model):
    return [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()]


def _explain(model, x):
    maps = cdig.explain(model, x, ("time", "fourier"), target=1, n_steps=8)
    return {name: att.values for name, att in maps.items()}


def _hammer(model, x):
    """THREADS threads, each explaining ``model`` ROUNDS times, starting each round together."""
    barrier = threading.Barrier(THREADS)
    results: list[list[dict]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(ROUNDS):
                barrier.wait()
                results[i].append(_explain(model, x))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            barrier.abort()
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_concurrent_explains_leave_the_model_as_it_was():
    import torch

    model = _model()
    before = _state(model)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(N, C, T, generator=torch.Generator().manual_seed(1))
    reference = _explain(model, x)
    assert _state(model) == before

    results = _hammer(model, x)

    assert _state(model) == before  # every module's mode and every parameter's requires_grad
    for k, v in model.state_dict().items():  # eval mode throughout: batch-norm statistics untouched
        assert torch.equal(v, weights[k]), k
    for per_thread in results:
        assert len(per_thread) == ROUNDS
        for maps in per_thread:
            assert maps.keys() == reference.keys()
            for name, values in maps.items():
                np.testing.assert_array_equal(values, reference[name])

    # the model still trains: gradients reach the trainable parameters, not the frozen ones
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = model(x).square().mean()
    loss.backward()
    optimizer.step()
    assert model[0].weight.grad is None
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_unshared_preparation_leaves_the_model_changed(monkeypatch):
    """The same threads with the old save/restore (no sharing, no lock) change the model: the test
    above can fail."""
    import torch

    from cdig.backends.torch import TorchBackend

    @contextmanager
    def unshared(self) -> Iterator[None]:
        model = self.model
        modes = [(m, m.training) for m in model.modules()]
        flags = [(p, p.requires_grad) for p in model.parameters()]
        model.eval()
        try:
            for p, _ in flags:
                p.requires_grad_(False)
            yield
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)
            for m, training in modes:
                m.training = training

    monkeypatch.setattr(TorchBackend, "prepared", unshared)
    x = torch.randn(N, C, T, generator=torch.Generator().manual_seed(1))
    changed = 0
    for _ in range(3):  # a race: a few tries make it (nearly) certain
        model = _model()
        before = _state(model)
        try:
            _hammer(model, x)
        except cdig.CdigModelError as e:
            # another thread put the model back in training mode under this one: its batch check refused
            assert "depends on the other samples in its batch" in str(e)
            changed += 1
        changed += _state(model) != before
        if changed:
            break
    assert changed


def test_nested_preparations_restore_once():
    state = {"mode": "train", "calls": 0}

    def prepare():
        saved = state["mode"]
        state["mode"], state["calls"] = "eval", state["calls"] + 1
        return (lambda: state.update(mode=saved)), saved

    with shared_preparation(state, prepare):
        with shared_preparation(state, prepare) as info:
            assert info == "train" and state["mode"] == "eval"
        assert state["mode"] == "eval"  # the outer explanation is still running
    assert state == {"mode": "train", "calls": 1}


def test_a_failing_explanation_restores_the_model():
    import torch

    model = _model()
    before = _state(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(cdig.CdigValueError):
            cdig.explain(model, torch.randn(N, C, T), "time", target=7)
    assert _state(model) == before


@pytest.mark.parametrize("backend", ["tensorflow", "jax"], indirect=True)
def test_concurrent_explains_on_compiling_backends(backend):
    """TensorFlow/Keras and JAX models are not changed by an explanation (no modes to set), and
    explanations in several threads give the single-threaded maps."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(T * C, 3)).astype(np.float32)
    if backend.name == "tensorflow":
        import keras

        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((T, C)), keras.layers.Flatten(), keras.layers.Dropout(0.5), keras.layers.Dense(3, activation="tanh")]
        )
        weights = [v.numpy().copy() for v in model.weights]
    else:
        import jax
        import jax.numpy as jnp

        wj = jnp.asarray(w)

        def plain(v):
            return jnp.tanh(v.reshape(v.shape[0], -1) @ wj)

        model = jax.jit(plain)

        weights = []
    x = rng.normal(size=(N, T, C)).astype(np.float32)
    reference = _explain(model, x)
    barrier = threading.Barrier(THREADS)
    results: list[dict] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                barrier.wait()
                results.append(_explain(model, x))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            barrier.abort()
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert len(results) == 3 * THREADS
    for maps in results:
        for name, values in maps.items():
            np.testing.assert_array_equal(values, reference[name])
    if weights:
        for v, before in zip(model.weights, weights):
            np.testing.assert_array_equal(v.numpy(), before)
