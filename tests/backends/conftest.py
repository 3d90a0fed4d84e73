"""The ``backend`` fixture over the installed frameworks, and the cross-framework helpers (``_triplets.py``).

``backend`` is one of ``"torch"``, ``"tensorflow"`` (Keras on its TensorFlow backend) and ``"jax"``
(JAX's default float32), each skipped when it is not installed; a test narrows the list with
``@pytest.mark.parametrize("backend", [...], indirect=True)``. It gives a small namespace of what a
test needs to speak the framework: its ``Backend`` class, its array namespace for a domain's
``inverse``, conversions to and from numpy, and the input type its models take.

pytest runs with ``--import-mode=importlib``, so test modules cannot import a sibling by name:
``_triplets.py`` is loaded once here as ``sys.modules["_cdig_tests_triplets"]``; it imports no
framework at load time.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cdig.testing import requires_jax, requires_tensorflow, requires_torch

NAME = "_cdig_tests_triplets"

if NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(NAME, Path(__file__).with_name("_triplets.py"))
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[NAME] = _module
    _spec.loader.exec_module(_module)


def _torch() -> SimpleNamespace:
    import array_api_compat.torch as xp
    import torch

    from cdig.backends.torch import TorchBackend

    return SimpleNamespace(
        cls=TorchBackend,
        xp=xp,
        array_type=torch.Tensor,
        x64=True,
        native=lambda a, dtype=None: torch.as_tensor(np.asarray(a, dtype=dtype)),
        to_numpy=lambda t: t.detach().cpu().numpy(),
        model_input=torch.as_tensor,
        sin=torch.sin,
        sum12=lambda v: v.sum((1, 2)),
    )


def _tensorflow() -> SimpleNamespace:
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":  # pragma: no cover - depends on KERAS_BACKEND
        pytest.skip("these tests need Keras on the TensorFlow backend")
    from cdig.backends.tensorflow import TensorflowBackend, TFNamespace

    return SimpleNamespace(
        cls=TensorflowBackend,
        xp=TFNamespace,
        array_type=tf.Tensor,
        x64=True,
        native=lambda a, dtype=None: tf.constant(np.asarray(a, dtype=dtype)),
        to_numpy=lambda t: t.numpy(),
        model_input=np.asarray,  # Keras models take numpy as they are
        sin=tf.sin,
        sum12=lambda v: tf.reduce_sum(v, axis=(1, 2)),
        compiled=tf.function,
        triplet=lambda trip: trip.make_keras(),
        einsum=tf.einsum,
        natives=lambda a: [tf.constant(a), tf.Variable(a)],
        linear=sys.modules[NAME].keras_linear,
    )


def _jax() -> SimpleNamespace:
    jax = pytest.importorskip("jax")
    if jax.config.read("jax_enable_x64"):
        pytest.skip("these tests expect JAX's default float32")
    import jax.numpy as jnp

    from cdig.backends.jax import JaxBackend

    return SimpleNamespace(
        cls=JaxBackend,
        xp=jnp,
        array_type=jax.Array,
        x64=False,
        native=lambda a, dtype=None: jnp.asarray(np.asarray(a, dtype=dtype)),
        to_numpy=np.asarray,
        model_input=jnp.asarray,
        sin=jnp.sin,
        sum12=lambda v: v.sum(axis=(1, 2)),
        compiled=jax.jit,
        triplet=lambda trip: trip.make_jax().fn,
        einsum=jnp.einsum,
        natives=lambda a: [jnp.asarray(a)],
        linear=lambda w: jax.jit(lambda v: (v * w).reshape(v.shape[0], -1).sum(axis=-1)),
    )


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("torch", marks=requires_torch),
        pytest.param("tensorflow", marks=requires_tensorflow),
        pytest.param("jax", marks=requires_jax),
    ],
)
def backend(request) -> SimpleNamespace:
    """One installed framework, as a namespace (see the module's docstring); ``name`` is its backend's name."""
    make = {"torch": _torch, "tensorflow": _tensorflow, "jax": _jax}[request.param]
    ns = make()
    ns.name = request.param
    # without x64 JAX computes in float32: the dtypes its primitives are tested in
    ns.real, ns.complex = (np.float64, np.complex128) if ns.x64 else (np.float32, np.complex64)
    return ns
