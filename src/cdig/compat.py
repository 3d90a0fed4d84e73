"""The reference package's names on top of cdig's public API.

Code written for ``cross-domain-saliency-maps`` (Kechris, Dan & Atienza) runs by changing only its
imports::

    from cdig.compat import TimeIG, FourierIG, ICAIG, CrossDomainIG, DomainBase

The classes keep the reference's constructors (``model, [ica,] n_iterations, output_channel, device,
dtype`` in that order), ``run(x, x_baseline)``, ``getMultiIG()``, ``domain.forward_transform`` /
``inverse_transform`` and its results: a tensor of the model's framework on the model's device (or
``device``). The model decides which of the reference's two sides is served:

* a PyTorch model (the reference's ``torch_ig``): ``x`` is ``(N, C, T)``; time and the two-sided
  Fourier bins give ``(N, C, T)``, also for one sample; ICA gives ``(N, K)``, ``(K,)`` for one sample.
* a Keras model on the TensorFlow backend (the reference's ``tensorflow_ig``): ``x`` is
  ``(N, T, C)``, channels last; time and Fourier give ``(C, T)`` for one sample, as the reference
  does, and ``(N, C, T)`` for a batch of ``N > 1`` (which the reference cannot explain); ICA gives
  ``(K,)`` for one sample and ``(N, K)`` for a batch.

By default they integrate with the reference's torch rule, the right Riemann sum ``α = i/n,
i = 1..n``, so the torch side's numbers come back to float round-off; ``method=`` picks any rule of
:data:`cdig.RULES`. The reference's TensorFlow side uses another rule (``α = linspace(0, 1, n)``,
both ends included, each weight ``1/n``); cdig keeps one rule on both sides, so its TensorFlow
numbers differ from that side's by ``O(1/n)`` (see ``docs/porting.md``).

Every class here is a :class:`CrossDomainIG` with a preset :class:`DomainBase`. The domain's
coefficients, its baseline coefficients and its ``inverse_transform`` define a straight path that
:func:`cdig.explain` integrates: domains whose inverse is affine (``linear = True``: time, Fourier,
the reference's ICA) share cdig's time-domain pass; any other domain is integrated along its own path.

The framework-specific calls sit in each backend module's ``CompatOps`` (``cdig.backends.torch``,
``cdig.backends.tensorflow``: the only places importing their framework), registered in
``_FRAMEWORKS``; this module imports no framework.

Examples
--------
>>> import numpy as np, torch
>>> from cdig.compat import TimeIG, FourierIG
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 16, 3)).eval()
>>> x = np.random.default_rng(0).normal(size=(4, 2, 16)).astype("float32")
>>> ig = FourierIG(model, 20, output_channel=1)
>>> _ = ig.run(x, np.zeros_like(x))
>>> tuple(ig.getMultiIG().shape), ig.getMultiIG().device.type
((4, 2, 16), 'cpu')
>>> time_map = TimeIG(model, 20, output_channel=1).run(x, np.zeros_like(x))
>>> bool(torch.allclose(time_map.sum(dim=(1, 2)), ig.getMultiIG().sum(dim=(1, 2)), atol=1e-4))
True
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from .api import explain
from .core.attribution import Attribution
from .core.checks import check_input
from .core.errors import CdigTypeError, CdigValueError, CdigWarning
from .core.rules import get_rule
from .domains import ICA, Domain

__all__ = [
    "CrossDomainIG", "TimeIG", "FourierIG", "ICAIG",
    "DomainBase", "TimeDomain", "FourierDomain", "ICADomain", "fourier_two_sided",
]

#: The reference's (torch side's) integration rule: right Riemann sum, alpha = i/n for i = 1..n.
REFERENCE_METHOD = "riemann_right"


# --- the framework ---------------------------------------------------------------------------
#: Frameworks the compat layer can serve: name -> the framework module that must be imported. Each
#: backend module (the only place importing its framework) provides a ``CompatOps`` class; the
#: first one imported also runs plain functions of tensors.
_FRAMEWORKS: dict[str, str] = {"torch": "torch", "tensorflow": "tensorflow"}

#: The framework a DomainBase is built for while an explainer builds it (see ``_building_for``).
_BUILDING_FOR: ContextVar[Any] = ContextVar("cdig_compat_building_for", default=None)


def _ops_of(name: str) -> Any:
    from .backends import get_backend_by_name

    return importlib.import_module(get_backend_by_name(name).__module__).CompatOps


def _imported_ops() -> list[Any]:
    return [_ops_of(name) for name, module in _FRAMEWORKS.items() if module in sys.modules]


def _framework(model: Any) -> Any:
    """The ``CompatOps`` of the framework that runs ``model``."""
    imported = _imported_ops()
    for ops in imported:
        if ops.owns(model):
            return ops
    if callable(model) and imported:
        return imported[0]  # a plain function of tensors
    raise CdigTypeError(
        f"cdig.compat runs PyTorch models (torch.nn.Module or a function of tensors) and Keras models on "
        f"the TensorFlow backend; got {type(model).__name__}. Import the model's framework and pass its "
        "model, or use cdig.explain"
    )


def _dtype_framework(dtype: Any) -> Any:
    """The ``CompatOps`` whose framework ``dtype`` belongs to (None when no imported one claims it)."""
    return next((ops for ops in _imported_ops() if ops.is_dtype(dtype)), None)


def _domain_framework(dtype: Any) -> Any:
    """The framework of a DomainBase: its explainer's; else that of ``dtype``; else PyTorch (the
    reference's ``torch_ig``) when imported or installed, else TensorFlow."""
    ops = _BUILDING_FOR.get()
    if ops is not None:
        return ops
    if dtype is not None:
        ops = _dtype_framework(dtype)
        if ops is None:
            raise CdigTypeError(
                f"dtype={dtype!r} is not a dtype of an imported framework; pass a torch.dtype or a tf.DType"
            )
        return ops
    imported = _imported_ops()
    if imported:
        return imported[0]
    for name in _FRAMEWORKS:
        try:
            return _ops_of(name)
        except CdigValueError:  # not installed
            continue
    raise CdigTypeError("cdig.compat needs PyTorch or TensorFlow; neither is installed")


@contextmanager
def _building_for(ops: Any) -> Iterator[None]:
    """Domains constructed inside take ``ops`` (the explainer's framework) whatever their __init__ does."""
    token = _BUILDING_FOR.set(ops)
    try:
        yield
    finally:
        _BUILDING_FOR.reset(token)


def _time_axis(shape: tuple[int, ...], channels_last: bool = False) -> int:
    """A time axis cdig accepts for ``shape``; only the layout bookkeeping depends on it here.

    The framework's convention (axis 1 channels last, else -1) unless that axis is too short for a
    time axis and the other one is not.
    """
    if len(shape) != 3:
        return -1
    usual, other = (1, -1) if channels_last else (-1, 1)
    return other if shape[usual] < 2 <= shape[other] else usual


def _layout_name(ops: Any) -> str:
    return "(N, T, C) with the channels last" if ops.channels_last else "(N, C, T) with the channels on axis 1"


# --- domains ---------------------------------------------------------------------------------
class DomainBase:
    """A domain of the reference package: coefficients, baseline coefficients and a differentiable inverse.

    Subclass it to explain a model in a domain of your own, as in the reference: implement
    ``forward_transform`` and ``inverse_transform`` (and ``set_coefficients`` when the coefficients are
    not simply ``forward_transform`` of the input and of the baseline), then call
    ``CrossDomainIG(...).initialize_domain(MyDomain, ...)``. ``run`` integrates along the straight path
    from the baseline coefficients to the coefficients, through ``inverse_transform``.

    A domain works in the framework of the explainer that builds it (``initialize_domain``, or the
    preset classes): PyTorch for a torch model, TensorFlow for a Keras model, whose inputs are
    ``(N, T, C)``. Built on its own, it takes the framework of ``dtype``, else PyTorch when it is
    imported (the reference's ``torch_ig``), else TensorFlow.

    Parameters
    ----------
    device : str or torch.device, optional
        Where the coefficients live. None: the device of the input handed to ``set_coefficients``
        (TensorFlow: its default placement). A dtype given here is taken as ``dtype``: the
        reference's TensorFlow ``DomainBase(dtype)`` has no ``device``.
    dtype : torch.dtype or tf.DType, optional
        The real dtype of the coefficients (default float32, as in the reference).

    Attributes
    ----------
    coefficients, baseline_coefficients : tensor or None
        Set by :meth:`set_coefficients`; the first axis holds the samples of the batch.
    linear : bool
        Set it to True in a subclass whose ``inverse_transform`` is affine in the coefficients: cdig
        then integrates along the equivalent straight path of inputs (same numbers, no calls of the
        inverse along the path). False (the default) is always correct.
    channel_permutation : tuple of int
        On the TensorFlow side, the transposition from the model's ``(N, T, C)`` to the coefficients'
        ``(N, C, T)`` in :class:`TimeDomain` and :class:`FourierDomain` (as in the reference);
        unused on the torch side.

    Examples
    --------
    A domain of the signal scaled by 2 (the reference's README calls this "any domain"):

    >>> import torch
    >>> from cdig.compat import CrossDomainIG, DomainBase
    >>> class Scaled(DomainBase):
    ...     def forward_transform(self, x):
    ...         return 2.0 * x
    ...     def inverse_transform(self, z):
    ...         return z / 2.0
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2), torch.nn.Tanh()).eval()
    >>> ig = CrossDomainIG(model, 64, output_channel=0, method="gausslegendre")
    >>> ig.initialize_domain(Scaled)
    >>> x = torch.randn(3, 1, 8)
    >>> a = ig.run(x, torch.zeros_like(x))
    >>> tuple(a.shape), bool(abs(ig.attribution_.delta).max() < 1e-5)
    ((3, 1, 8), True)
    """

    #: Whether ``inverse_transform`` is affine in the coefficients.
    linear: bool = False
    #: The TensorFlow side's transposition (N, T, C) -> (N, C, T) of the model's input.
    channel_permutation: tuple[int, ...] = (0, 2, 1)
    #: The framework's ``CompatOps``, fixed at construction.
    _ops: Any = None

    def __init__(self, device: Any = None, dtype: Any = None) -> None:
        if device is not None and dtype is None and _dtype_framework(device) is not None:
            device, dtype = None, device  # the reference's TensorFlow DomainBase(dtype)
        self._ops = _domain_framework(dtype)
        self.device = device
        self.dtype = dtype if dtype is not None else self._ops.default_dtype()
        self.coefficients: Any = None
        self.baseline_coefficients: Any = None

    def _tensor(self, a: Any, dtype: Any = None) -> Any:
        ops = self._ops
        device = self.device
        if device is None:
            device = a.device if ops.is_tensor(a) else ops.model_device(None, a)
        return ops.tensor(a, self.dtype if dtype is None else dtype, device)

    def _to_coefficient_layout(self, x: Any) -> Any:
        """The model's input as ``(N, C, T)``: transposed by ``channel_permutation`` on the TensorFlow
        side (3-D input only), unchanged on the torch side."""
        perm = tuple(self.channel_permutation)
        if not self._ops.channels_last or len(x.shape) != len(perm):
            return x
        return self._ops.transpose(x, perm)

    def _to_model_layout(self, z: Any) -> Any:
        """The inverse of :meth:`_to_coefficient_layout`."""
        perm = tuple(self.channel_permutation)
        if not self._ops.channels_last or len(z.shape) != len(perm):
            return z
        return self._ops.transpose(z, tuple(int(i) for i in np.argsort(perm)))

    def set_coefficients(self, x: Any, x_baseline: Any) -> None:
        """Coefficients of the input and of the baseline (numpy arrays or tensors, samples first).

        The default takes :meth:`forward_transform` of each.
        """
        self.coefficients = self.forward_transform(self._tensor(x))
        self.baseline_coefficients = self.forward_transform(self._tensor(x_baseline))

    def get_coefficients(self) -> Any:
        """The coefficients of the input, as set by :meth:`set_coefficients`."""
        return self.coefficients

    def get_coefficient_baseline(self) -> Any:
        """The coefficients of the baseline, as set by :meth:`set_coefficients`."""
        return self.baseline_coefficients

    def forward_transform(self, x: Any) -> Any:
        """The coefficients of ``x``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward_transform(x)")

    def inverse_transform(self, x_input: Any) -> Any:
        """The model input whose coefficients are ``x_input``; differentiable (in the model's framework)."""
        raise NotImplementedError(f"{type(self).__name__} must implement inverse_transform(coefficients)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device!r}, dtype={self.dtype!r})"


class TimeDomain(DomainBase):
    """The identity: the coefficients are the samples themselves (classic Integrated Gradients).

    On the TensorFlow side the coefficients are the samples transposed to ``(N, C, T)``, as in the
    reference (``channel_permutation``, keyword only).

    Examples
    --------
    >>> import torch
    >>> d = TimeDomain()
    >>> x = torch.randn(1, 2, 5)
    >>> bool((d.inverse_transform(d.forward_transform(x)) == x).all())
    True
    """

    linear = True

    def __init__(self, device: Any = None, dtype: Any = None, time_dimension: int = -1, *,
                 channel_permutation: Sequence[int] = (0, 2, 1)) -> None:
        super().__init__(device, dtype)
        self.time_dimension = time_dimension  # unused, as in the reference
        self.channel_permutation = tuple(channel_permutation)

    def forward_transform(self, x: Any) -> Any:
        return self._to_coefficient_layout(x)

    def inverse_transform(self, x_input: Any) -> Any:
        return self._to_model_layout(x_input)


class FourierDomain(DomainBase):
    """The full two-sided FFT along ``time_dimension``; the inverse keeps the real part of the iFFT.

    The coefficients are complex (``complex64`` for the default ``float32``). Each bin's score adds
    the scores of its real and imaginary parts, ``Re[ΔX_k · conj(G_k)]``; for a real signal and
    baseline bins ``k`` and ``T - k`` get the same score, and the scores sum to ``f(x) - f(x0)``.
    On the TensorFlow side the input ``(N, T, C)`` is first transposed to ``(N, C, T)``
    (``channel_permutation``, keyword only), as in the reference.

    Examples
    --------
    >>> import torch
    >>> d = FourierDomain()
    >>> x = torch.randn(1, 2, 6)
    >>> z = d.forward_transform(x)
    >>> z.dtype, tuple(z.shape), bool(torch.allclose(d.inverse_transform(z), x, atol=1e-6))
    (torch.complex64, (1, 2, 6), True)
    """

    linear = True

    def __init__(self, device: Any = None, dtype: Any = None, time_dimension: int = -1, *,
                 channel_permutation: Sequence[int] = (0, 2, 1)) -> None:
        super().__init__(device, dtype)
        self.time_dimension = time_dimension
        self.channel_permutation = tuple(channel_permutation)

    def forward_transform(self, x: Any) -> Any:
        return self._ops.fft(self._to_coefficient_layout(x), self.time_dimension, self.dtype)

    def inverse_transform(self, x_input: Any) -> Any:
        return self._to_model_layout(self._ops.ifft_real(x_input, self.time_dimension, self.dtype))


class ICADomain(DomainBase):
    """The reference's ICA domain: the mixing matrix is scaled from zero with the sources fixed.

    For each sample ``x`` of shape ``(C, T)`` the sources are ``S = ica.transform(x.T)`` ``(T, K)``,
    the coefficients are ``mixing_.T`` ``(K, C)``, the baseline coefficients are zero and
    ``inverse_transform(A) = (S @ A + mean_).T``. The path is ``x(α) = α·S·mixing_ᵀ + mean_``: it
    starts at the channel means whatever baseline is given (``x_baseline`` is ignored). On the
    TensorFlow side a sample is ``(T, C)``: ``S = ica.transform(x)`` and the inverse is not transposed.

    Parameters
    ----------
    device : str or torch.device, optional
        As in :class:`DomainBase`. A fitted ICA given here is taken as ``ica``: the reference's
        TensorFlow ``ICADomain(ica, dtype)`` has no ``device``.
    ica : object
        One fitted, whitened ``sklearn.decomposition.FastICA`` (or an object with its fitted
        interface: ``mixing_``, ``mean_``, ``transform``), used for every sample.
    dtype : torch.dtype or tf.DType, optional
        As in :class:`DomainBase`.
    channel_permutation : tuple of int
        Accepted and unused, as in the reference.

    Attributes
    ----------
    sources_ : tensor, shape (N, T, K)
        The sources of each sample of the last :meth:`set_coefficients`.
    mean_ : tensor, shape (C,)
        ``ica.mean_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import FastICA
    >>> x = np.random.default_rng(0).laplace(size=(1, 2, 100)).astype("float32")
    >>> ica = FastICA(random_state=0, whiten="unit-variance").fit(x[0].T)
    >>> d = ICADomain(ica=ica)
    >>> d.set_coefficients(x, None)
    >>> tuple(d.get_coefficients().shape), tuple(d.sources_.shape)
    ((1, 2, 2), (1, 100, 2))
    >>> bool(np.allclose(d.inverse_transform(d.get_coefficients()).numpy(), x, atol=1e-4))
    True
    """

    linear = True

    def __init__(self, device: Any = None, ica: Any = None, dtype: Any = None,
                 channel_permutation: Sequence[int] = (0, 2, 1)) -> None:
        if hasattr(device, "transform") and not hasattr(ica, "transform"):
            # the reference's TensorFlow ICADomain(ica, dtype, channel_permutation): one place to the left
            device, ica, dtype, channel_permutation = None, device, ica, (
                channel_permutation if dtype is None else dtype)
        super().__init__(device, dtype)
        if ica is None:
            raise CdigTypeError("ICADomain needs ica=<a fitted sklearn FastICA>; got None")
        if isinstance(ica, (list, tuple)):
            raise CdigTypeError(
                "ICADomain takes one fitted FastICA for every sample, as the reference does; for one ICA per "
                "sample use cdig.explain(model, x, [cdig.ICA(list_of_icas)], ...)"
            )
        self.ica = ica
        self.channel_permutation = tuple(channel_permutation)
        self.sources_: Any = None
        self.mean_: Any = None

    def fitted_matrices(self, x: np.ndarray) -> ICA:
        """cdig's ICA domain fitted to a batch ``x`` ``(N, C, T)``: validates ``ica`` with clear errors."""
        return ICA(self.ica).fit(np.asarray(x, dtype=np.float64))

    def forward_transform(self, x: Any) -> np.ndarray:
        """``ica.transform(x)`` of ``(samples, features)`` data, as a numpy array (as in the reference)."""
        return np.asarray(self.ica.transform(self._ops.to_numpy(x)))

    def channels_first(self, x: np.ndarray) -> np.ndarray:
        """A batch in the model's layout (numpy) as ``(N, C, T)``."""
        return np.swapaxes(x, 1, 2) if self._ops.channels_last else x

    def set_coefficients(self, x: Any, x_baseline: Any) -> None:
        xt = self._tensor(x)
        if len(xt.shape) != 3:
            raise CdigValueError(
                f"x has shape {tuple(xt.shape)}; the ICA domain takes a batch {_layout_name(self._ops)} "
                "(add a batch axis for one sample: x[None])"
            )
        xn = self.channels_first(self._ops.to_numpy(xt))
        fitted = self.fitted_matrices(xn)
        sources = np.stack([self.forward_transform(xn[i].T) for i in range(xn.shape[0])])
        self.sources_ = self._tensor(sources)
        self.mean_ = self._tensor(fitted.mean_)
        mixing_t = self._tensor(fitted.mixing_.T)
        self.coefficients = self._ops.broadcast(mixing_t, (xn.shape[0],) + tuple(mixing_t.shape))
        self.baseline_coefficients = self._ops.zeros_like(self.coefficients)

    def inverse_transform(self, x_input: Any) -> Any:
        if self.sources_ is None:
            raise CdigValueError(
                "ICADomain.inverse_transform needs the sources: call set_coefficients(x, x_baseline) first"
            )
        x = self.sources_ @ x_input + self.mean_  # (N, T, C)
        return x if self._ops.channels_last else self._ops.transpose(x, (0, 2, 1))


# --- cdig's view of a DomainBase ---------------------------------------------------------------
class _StraightPath(Domain):
    """A :class:`DomainBase` as a :class:`cdig.Domain`: its coefficients and ``inverse_transform``.

    ``forward`` hands cdig the coefficients the DomainBase set (the reference reads them back with
    ``get_coefficients``, which need not be ``forward_transform`` of the input); the baseline
    coefficients go to :func:`cdig.explain` as ``baselines={name: ...}``. ``inverse`` returns the
    model's input in cdig's canonical layout for the ``time_axis`` the run uses (see :func:`_time_axis`).
    """

    def __init__(self, domain: DomainBase, ops: Any, n_samples: int, input_ndim: int, channels_last: bool) -> None:
        self.domain = domain
        self.ops = ops
        self.name = "compat"
        self.linear = bool(getattr(domain, "linear", False))
        self.n_samples = n_samples
        self.input_ndim = input_ndim
        self.channels_last = channels_last

    def _require_tensor(self, a: Any) -> None:
        # The DomainBase is written in the model's framework: cdig's numpy probes of a domain must not run it.
        if not self.ops.is_tensor(a):
            raise CdigTypeError(f"{type(self.domain).__name__} runs on {self.ops.name} tensors, got {type(a).__name__}")

    def forward(self, x: Any, xp: Any) -> Any:
        self._require_tensor(x)
        z = self.domain.get_coefficients()
        shape = tuple(getattr(z, "shape", ()))
        if not shape or shape[0] != self.n_samples:
            raise CdigValueError(
                f"{type(self.domain).__name__}.set_coefficients gave coefficients of shape {shape} for a batch of "
                f"{self.n_samples} sample(s); the first axis must hold the samples"
            )
        return xp.asarray(z, device=x.device)

    def inverse(self, z: Any, xp: Any) -> Any:
        self._require_tensor(z)
        out = self.domain.inverse_transform(z)
        if self.input_ndim == 2:
            return xp.expand_dims(out, axis=1)
        return xp.permute_dims(out, (0, 2, 1)) if self.channels_last else out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "compat_domain": type(self.domain).__name__}


# --- the explainers ---------------------------------------------------------------------------
class CrossDomainIG:
    """Integrated Gradients in a domain of the reference package's kind (see :class:`DomainBase`).

    Parameters
    ----------
    model : torch.nn.Module, keras.Model or callable
        Returns ``(N, outputs)`` for a batch; ``output_channel`` picks the explained output (raw, no
        softmax). The model is left as it was: no ``.grad`` piles up on its parameters and its
        training mode is restored (cdig explains in eval mode and warns if dropout/batch-norm are training).
        A Keras model (TensorFlow backend) takes ``(N, T, C)`` inputs, as on the reference's
        TensorFlow side; a plain function is run by the first framework imported (PyTorch first).
    n_iterations : int
        Points of the integration rule.
    output_channel : int
        Index of the explained output (default 0).
    device : str or torch.device, optional
        Where the result is returned. Default: the model's device (TensorFlow: its default
        placement). A dtype given here (the reference's fourth positional argument of
        ``CrossDomainIG``, and of every TensorFlow class, is ``dtype``) is taken as ``dtype``.
    dtype : torch.dtype or tf.DType, optional
        The dtype inputs are cast to and results are returned in (default float32).
    method : str
        The integration rule, keyword only: ``"riemann_right"`` (default; the reference's torch
        rule ``α = i/n, i = 1..n``, used on both sides), ``"gausslegendre"``, ``"riemann_left"``,
        ``"riemann_middle"``, ``"riemann_trapezoid"``.
    internal_batch_size : int, optional
        Path points per forward/backward pass (keyword only), as in :func:`cdig.explain`.
    progress : bool
        Show a progress bar (keyword only).

    Attributes
    ----------
    domain : DomainBase or None
        Set by :meth:`initialize_domain` (preset by :class:`TimeIG`, :class:`FourierIG`, :class:`ICAIG`).
    multiIG : tensor or None
        The result of the last :meth:`run`.
    attribution_ : cdig.Attribution or None
        The full result of the last run: completeness ``delta`` per sample, outputs, settings.

    Raises
    ------
    CdigValueError, CdigTypeError
        For a bad ``n_iterations`` / ``method`` / ``output_channel``, or at ``run`` for bad input.

    Warns
    -----
    cdig.ConvergenceWarning
        When the rule leaves the completeness error above 1% of ``f(x) - f(baseline)`` (raise
        ``n_iterations`` or pass ``method="gausslegendre"``).

    Examples
    --------
    >>> import torch
    >>> from cdig.compat import CrossDomainIG, TimeDomain
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2)).eval()
    >>> ig = CrossDomainIG(model, 10, 1)
    >>> ig.initialize_domain(TimeDomain)
    >>> x = torch.randn(2, 1, 8)
    >>> a = ig.run(x, torch.zeros_like(x))
    >>> change = model(x)[:, 1] - model(torch.zeros_like(x))[:, 1]
    >>> bool(torch.allclose(a.sum(dim=(1, 2)), change, atol=1e-4))
    True
    """

    def __init__(self, model: Any, n_iterations: int, output_channel: int = 0, device: Any = None,
                 dtype: Any = None, *, method: str = REFERENCE_METHOD, internal_batch_size: int | None = None,
                 progress: bool = False) -> None:
        self._ops = _framework(model)
        if device is not None and dtype is None and self._ops.is_dtype(device):
            device, dtype = None, device
        if dtype is not None and not self._ops.is_dtype(dtype):
            raise CdigTypeError(
                f"dtype={dtype!r} is not a {self._ops.name} dtype; the model runs on {self._ops.name}"
            )
        try:
            get_rule(method, n_iterations)
        except (CdigValueError, CdigTypeError) as e:  # name the argument as the caller knows it
            raise type(e)(str(e).replace("n_steps", "n_iterations")) from None
        if isinstance(output_channel, bool) or not isinstance(output_channel, (int, np.integer)) or output_channel < 0:
            raise CdigValueError(
                f"output_channel={output_channel!r}: it must be an int >= 0 (an index of the model's outputs)"
            )
        self.model = model
        self.n_iterations = int(n_iterations)
        self.output_channel = int(output_channel)
        self.device = device
        self.dtype = dtype if dtype is not None else self._ops.default_dtype()
        self.method = method
        self.internal_batch_size = internal_batch_size
        self.progress = progress
        self.domain: DomainBase | None = None
        self.multiIG: Any = None
        self.attribution_: Attribution | None = None

    def initialize_domain(self, Domain: type[DomainBase], **kwargs: Any) -> None:
        """Set ``self.domain = Domain(**kwargs)``, as in the reference, in the model's framework."""
        if not (isinstance(Domain, type) and issubclass(Domain, DomainBase)):
            raise CdigTypeError(
                f"initialize_domain takes a subclass of cdig.compat.DomainBase (the class, not an instance), got "
                f"{Domain!r}; cdig.Domain objects go to cdig.explain(model, x, domains=[...])"
            )
        self.domain = self._build_domain(Domain, **kwargs)

    def _build_domain(self, Domain: type[DomainBase], **kwargs: Any) -> DomainBase:
        with _building_for(self._ops):
            domain = Domain(**kwargs)
        self._check_domain(domain)
        return domain

    def _check_domain(self, domain: DomainBase) -> None:
        """The domain computes in the model's framework and dtype (it may have been assigned by hand)."""
        ops = getattr(domain, "_ops", None)
        if ops is not None and ops is not self._ops:
            raise CdigTypeError(
                f"{type(domain).__name__} was built for {ops.name} but the model runs on {self._ops.name}; "
                "build it with initialize_domain(DomainClass, **kwargs) or give it a dtype of the model's framework"
            )
        dtype = getattr(domain, "dtype", None)
        if dtype is not None and not self._ops.is_dtype(dtype):
            raise CdigTypeError(
                f"{type(domain).__name__} has dtype={dtype!r}, not a {self._ops.name} dtype (the model's framework)"
            )

    def getMultiIG(self) -> Any:
        """The result of the last :meth:`run` (the same object).

        Raises
        ------
        CdigValueError
            When :meth:`run` has not been called yet.
        """
        if self.multiIG is None:
            raise CdigValueError(
                f"{type(self).__name__}.getMultiIG() was called before run(x, x_baseline): there is no result yet"
            )
        return self.multiIG

    def run(self, x: Any, x_baseline: Any = None) -> Any:
        """Explain every sample of the batch ``x``; returns the map and keeps it for :meth:`getMultiIG`.

        Parameters
        ----------
        x : numpy array or tensor, shape (N, C, T) or, for a Keras model, (N, T, C)
            The batch, in the model's input layout (``N >= 1``).
        x_baseline : numpy array, tensor, scalar or None
            The time-domain baseline, broadcastable to ``x``; None is the zero signal.

        Returns
        -------
        tensor
            The map of every sample, shaped like the domain's coefficients (samples first), on
            ``device`` (default: the model's) in ``dtype``. For a Keras model and one sample, the
            sample axis is dropped, as on the reference's TensorFlow side: ``(C, T)`` for time and
            Fourier.
        """
        if self.domain is None:
            raise CdigValueError(
                "this CrossDomainIG has no domain: call initialize_domain(DomainClass, **kwargs) before run, "
                "or use TimeIG / FourierIG / ICAIG"
            )
        self._check_domain(self.domain)
        xt, x0t = self._inputs(x, x_baseline)
        values = self._values(xt, x0t)
        if len(values) == 1 and self._squeeze_one_sample():
            values = values[0]
        self.multiIG = self._ops.tensor(values, self.dtype, self._out_device(x))
        return self.multiIG

    # --- steps of run ---------------------------------------------------------------------
    def _squeeze_one_sample(self) -> bool:
        """Whether the map of a batch of one drops the sample axis (the framework's convention)."""
        return bool(self._ops.squeeze_one_sample)

    def _out_device(self, x: Any) -> Any:
        if self.device is not None:
            return self._ops.device(self.device)
        return self._ops.model_device(self.model, x)

    def _inputs(self, x: Any, x_baseline: Any) -> tuple[Any, Any]:
        """``x`` and the baseline as tensors on the model's device (the baseline None when not given)."""
        ops = self._ops
        device = ops.model_device(self.model, x)
        xt = ops.tensor(x, self.dtype, device)
        check_input(ops.to_numpy(xt), "x")
        if x_baseline is None:
            return xt, None
        x0t = ops.tensor(x_baseline, self.dtype, device)
        shape, shape0 = tuple(xt.shape), tuple(x0t.shape)
        try:
            fits = np.broadcast_shapes(shape0, shape) == shape
        except ValueError:
            fits = False
        if not fits:
            raise CdigValueError(
                f"x_baseline has shape {shape0}, which does not broadcast to x's shape {shape}; "
                "accepted: None, a scalar, or an array broadcastable to x"
            )
        x0t = ops.broadcast(x0t, shape)
        check_input(ops.to_numpy(x0t), "x_baseline")
        return xt, x0t

    def _explain(self, x: Any, domains: list[Domain], baselines: Any) -> Attribution:
        """One cdig explanation of ``x`` with this object's target and rule."""
        result = explain(
            self.model, x, domains, target=self.output_channel, baselines=baselines, n_steps=self.n_iterations,
            method=self.method, internal_batch_size=self.internal_batch_size, time_axis=self._time_axis(x),
            progress=self.progress,
        )
        (self.attribution_,) = result.values()
        return self.attribution_

    def _time_axis(self, x: Any) -> int:
        return _time_axis(tuple(x.shape), self._ops.channels_last)

    def _values(self, x: Any, x0: Any) -> np.ndarray:
        """The domain's map along the straight path of its coefficients (numpy, samples first)."""
        domain = self.domain
        assert domain is not None
        domain.set_coefficients(x, self._ops.zeros_like(x) if x0 is None else x0)
        path = _StraightPath(domain, self._ops, int(x.shape[0]), len(x.shape), self._time_axis(x) == 1)
        return self._explain(x, [path], {path.name: domain.get_coefficient_baseline()}).values

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_iterations={self.n_iterations}, output_channel={self.output_channel}, "
                f"method={self.method!r}, domain={self.domain!r})")


class _PresetIG(CrossDomainIG):
    """A :class:`CrossDomainIG` whose domain is fixed by the class (``_preset``)."""

    _preset: type[DomainBase]

    def __init__(self, model: Any, n_iterations: int, output_channel: int = 0, device: Any = None,
                 dtype: Any = None, *, method: str = REFERENCE_METHOD, internal_batch_size: int | None = None,
                 progress: bool = False) -> None:
        super().__init__(model, n_iterations, output_channel, device, dtype, method=method,
                         internal_batch_size=internal_batch_size, progress=progress)
        self.domain = self._build_domain(self._preset, device=self.device, dtype=self.dtype)


class TimeIG(_PresetIG):
    """Integrated Gradients on the samples: a map ``(N, C, T)``.

    With the default rule this is ``(x - x0) ⊙ (1/n) Σ_{i=1..n} ∇f(x0 + (i/n)(x - x0))`` for each
    sample, the reference's numbers. For a Keras model ``x`` is ``(N, T, C)`` and the map is still
    ``(N, C, T)``, ``(C, T)`` for one sample (the reference's TensorFlow side). Parameters as in
    :class:`CrossDomainIG`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 2)).eval()
    >>> x = np.ones((1, 2, 3), dtype="float32")
    >>> a = TimeIG(model, 5, output_channel=0).run(x, np.zeros_like(x))
    >>> tuple(a.shape), a.dtype
    ((1, 2, 3), torch.float32)
    """

    _preset = TimeDomain


class FourierIG(_PresetIG):
    """Integrated Gradients on the two-sided FFT bins: a map ``(N, C, T)``, bin ``k`` at index ``k``.

    ``A_k = Re[ΔX_k · conj(G_k)]`` with ``G_k`` the path-averaged gradient with respect to the complex
    bin (``∂f/∂Re X_k + i ∂f/∂Im X_k``). For real signals ``A_k = A_{T-k}``: cdig's native ``"fourier"``
    domain reports the same information folded onto bins ``0..T//2`` (see :func:`fourier_two_sided`).
    For a Keras model ``x`` is ``(N, T, C)`` and the map is still ``(N, C, T)``, ``(C, T)`` for one
    sample (the reference's TensorFlow side). Parameters as in :class:`CrossDomainIG`.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2), torch.nn.Tanh()).eval()
    >>> x = torch.randn(3, 1, 8)
    >>> a = FourierIG(model, 16, method="gausslegendre").run(x)
    >>> bool(torch.allclose(a[..., 1:], a[..., 1:].flip(-1), atol=1e-6))
    True
    """

    _preset = FourierDomain


class ICAIG(CrossDomainIG):
    """Integrated Gradients of the independent components: one score per component, ``(N, K)``.

    By default this is the reference's computation: the mixing matrix is scaled from zero with each
    sample's sources ``S = ica.transform(x.T)`` fixed, ``x(α) = α·S·mixing_ᵀ + mean_``, and the
    ``(K, C)`` map is summed over channels. The path starts at the channel means ``mean_`` whatever
    ``x_baseline`` is; a baseline other than the means is ignored with a :class:`cdig.CdigWarning`,
    as the reference ignores it silently. With the means as baseline this equals cdig's native
    ``ICA`` domain (sources as coefficients) summed over time.

    Parameters
    ----------
    model, n_iterations, output_channel, device, dtype, method, internal_batch_size, progress
        As in :class:`CrossDomainIG`.
    ica : object
        One fitted, whitened ``sklearn.decomposition.FastICA`` used for every sample (the reference
        fits it on one sample's ``(T, C)`` data: ``FastICA(...).fit(x[0].T)``, or ``.fit(x[0])`` for
        a Keras model's ``(N, T, C)`` input).
    honour_baseline : bool
        Keyword only. True integrates cdig's ``ICA`` domain from the sources of ``x_baseline`` to those
        of ``x`` instead (``cdig.explain(model, x, [cdig.ICA(ica)], baselines=x_baseline)``).

    Returns
    -------
    tensor
        From :meth:`run`: ``(N, K)``, or ``(K,)`` when the batch holds one sample (the reference's
        shape on both sides; ``result.reshape(len(x), -1)`` gives ``(N, K)`` in both cases).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.decomposition import FastICA
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 64, 2)).eval()
    >>> x = np.random.default_rng(1).laplace(size=(1, 2, 64)).astype("float32")
    >>> ica = FastICA(random_state=0, whiten="unit-variance").fit(x[0].T)
    >>> scores = ICAIG(model, ica, 10, output_channel=0).run(x)
    >>> tuple(scores.shape)
    (2,)
    >>> mean = torch.as_tensor(ica.mean_[None, :, None], dtype=torch.float32)
    >>> change = model(torch.as_tensor(x))[0, 0] - model(mean.expand(1, 2, 64))[0, 0]
    >>> bool(torch.isclose(scores.sum(), change, atol=1e-4))
    True
    """

    def __init__(self, model: Any, ica: Any, n_iterations: int, output_channel: int = 0, device: Any = None,
                 dtype: Any = None, *, method: str = REFERENCE_METHOD, internal_batch_size: int | None = None,
                 progress: bool = False, honour_baseline: bool = False) -> None:
        super().__init__(model, n_iterations, output_channel, device, dtype, method=method,
                         internal_batch_size=internal_batch_size, progress=progress)
        self.ica = ica
        self.honour_baseline = bool(honour_baseline)
        self.domain = self._build_domain(ICADomain, device=self.device, ica=ica, dtype=self.dtype)

    def run(self, x: Any, x_baseline: Any = None) -> Any:
        """Scores per component of every sample: ``(N, K)``, or ``(K,)`` for a batch of one.

        See :meth:`CrossDomainIG.run`; ``x`` must be ``(N, C, T)`` (a Keras model's: ``(N, T, C)``).

        Warns
        -----
        cdig.CdigWarning
            When ``x_baseline`` is not the channel means ``ica.mean_`` and ``honour_baseline`` is False.
        """
        return super().run(x, x_baseline)

    def _squeeze_one_sample(self) -> bool:
        return True  # (K,) for one sample, as the reference on both sides

    def _values(self, x: Any, x0: Any) -> np.ndarray:
        if len(x.shape) != 3:
            raise CdigValueError(
                f"x has shape {tuple(x.shape)}; ICAIG takes a batch {_layout_name(self._ops)} "
                "(add a batch axis for one sample: x[None])"
            )
        if self.honour_baseline:
            domain = self.domain
            assert domain is not None  # run() checked it
            domain.set_coefficients(x, x0)  # the reference's view of the domain, for .domain users
            return self._explain(x, [ICA(self.ica)], x0).values
        if x0 is not None:
            self._warn_ignored_baseline(x, x0)
        return super()._values(x, None).sum(axis=-1)

    def _warn_ignored_baseline(self, x: Any, x0: Any) -> None:
        domain = self.domain
        if not isinstance(domain, ICADomain):  # replaced by hand (initialize_domain or an assignment)
            raise CdigTypeError(f"ICAIG explains in an ICADomain, got {type(domain).__name__}; use CrossDomainIG "
                                "for a domain of another kind")
        to_cf = domain.channels_first
        mean = np.asarray(domain.fitted_matrices(to_cf(self._ops.to_numpy(x[:1]))).mean_, dtype=np.float64)
        b = to_cf(self._ops.to_numpy(x0)).astype(np.float64)
        scale = float(np.abs(mean).max(initial=0.0)) + float(np.abs(b).max(initial=0.0))
        if np.allclose(b, mean[None, :, None], rtol=1e-5, atol=1e-6 * (1.0 + scale)):
            return
        warnings.warn(
            "ICAIG ignores x_baseline, like the reference package: its path starts at the channel means "
            "ica.mean_ (it scales the mixing matrix from zero). Pass x_baseline=None (or the means) to silence "
            "this, honour_baseline=True to start from your baseline's sources, or use "
            "cdig.explain(model, x, [cdig.ICA(ica)], baselines=...)",
            CdigWarning,
            stacklevel=5,
        )


# --- moving to the native API ---------------------------------------------------------------
def fourier_two_sided(values: Any, n_times: int) -> np.ndarray:
    """cdig's one-sided Fourier map (bins ``0..T//2`` on the last axis) as the reference's two-sided map.

    cdig's ``"fourier"`` domain (real FFT) gives each interior bin ``k`` (``1 <= k < T/2``) the score of
    both ``k`` and its negative-frequency twin ``T - k``; the two-sided map of the full FFT gives each
    half. DC and, for even ``T``, the Nyquist bin have no twin and are copied.

    Parameters
    ----------
    values : array_like, shape (..., T // 2 + 1)
        E.g. ``cdig.explain(model, x, "fourier")["fourier"].values``.
    n_times : int
        The number of time steps ``T`` of the explained signals.

    Returns
    -------
    ndarray, shape (..., T)
        ``A_k = A_{T-k}``, summing to the same totals as ``values``.

    Examples
    --------
    >>> fourier_two_sided([4.0, 2.0, 6.0, 1.0], 6).tolist()
    [4.0, 1.0, 3.0, 1.0, 3.0, 1.0]
    >>> fourier_two_sided([4.0, 2.0, 6.0], 5).tolist()
    [4.0, 1.0, 3.0, 3.0, 1.0]
    """
    v = np.asarray(values)
    if isinstance(n_times, bool) or not isinstance(n_times, (int, np.integer)) or n_times < 1:
        raise CdigValueError(f"n_times={n_times!r}: it must be the number of time steps, an int >= 1")
    if v.ndim < 1 or v.shape[-1] != n_times // 2 + 1:
        raise CdigValueError(
            f"values has {v.shape[-1] if v.ndim else 0} bins on its last axis; a one-sided map of {n_times} "
            f"time steps has {n_times // 2 + 1} (bins 0..{n_times // 2})"
        )
    out = np.empty(v.shape[:-1] + (n_times,), dtype=np.result_type(v.dtype, np.float32))
    m = (n_times - 1) // 2  # interior bins 1..m have a twin at T - k
    out[..., : n_times // 2 + 1] = v
    out[..., 1 : m + 1] = v[..., 1 : m + 1] / 2
    if m:
        out[..., n_times - m :] = out[..., m:0:-1]
    return out
