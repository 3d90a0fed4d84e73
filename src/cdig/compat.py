"""The reference package's names on top of cdig's public API.

Code written for ``cross-domain-saliency-maps`` (Kechris, Dan & Atienza) runs by changing only its
imports::

    from cdig.compat import TimeIG, FourierIG, ICAIG, CrossDomainIG, DomainBase

The classes keep the reference's constructors (``model, [ica,] n_iterations, output_channel, device,
dtype`` in that order), ``run(x, x_baseline)``, ``getMultiIG()``, ``domain.forward_transform`` /
``inverse_transform`` and its results: a tensor of the model's framework on the model's device (or
``device``), ``(N, C, T)`` for time and for the two-sided Fourier bins, ``(N, K)`` for ICA (``(K,)``
when one sample is given). By default they integrate with the reference's rule, the right Riemann sum
``α = i/n, i = 1..n``, so its numbers come back to float round-off; ``method=`` picks any rule of
:data:`cdig.RULES`.

Every class here is a :class:`CrossDomainIG` with a preset :class:`DomainBase`. The domain's
coefficients, its baseline coefficients and its ``inverse_transform`` define a straight path that
:func:`cdig.explain` integrates: domains whose inverse is affine (``linear = True``: time, Fourier,
the reference's ICA) share cdig's time-domain pass; any other domain is integrated along its own path.

Only PyTorch models are handled for now; the framework-specific calls sit in the torch backend
module (``cdig.backends.torch.CompatOps``, the only place importing torch), so that a Keras
counterpart can be registered in ``_FRAMEWORKS``.

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
from typing import Any, Sequence

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

#: The reference's integration rule: right Riemann sum, alpha = i/n for i = 1..n.
REFERENCE_METHOD = "riemann_right"


# --- the framework ---------------------------------------------------------------------------
#: Frameworks the compat layer can serve: name -> the framework module that must be imported. Each
#: backend module (the only place importing its framework) provides a ``CompatOps`` class.
_FRAMEWORKS: dict[str, str] = {"torch": "torch"}


def _ops_of(name: str) -> Any:
    from .backends import get_backend_by_name

    return importlib.import_module(get_backend_by_name(name).__module__).CompatOps


def _framework(model: Any) -> Any:
    imported = [name for name, module in _FRAMEWORKS.items() if module in sys.modules]
    for name in imported:
        ops = _ops_of(name)
        if ops.owns(model):
            return ops
    if callable(model) and "torch" in imported:
        return _ops_of("torch")  # a plain function of tensors
    raise CdigTypeError(
        f"cdig.compat runs PyTorch models (torch.nn.Module or a function of tensors); got "
        f"{type(model).__name__}. Import torch and pass a torch model, or use cdig.explain"
    )


def _torch_ops() -> Any:
    """The framework of the domain classes below (the reference's torch_ig module)."""
    return _ops_of("torch")


# --- domains ---------------------------------------------------------------------------------
class DomainBase:
    """A domain of the reference package: coefficients, baseline coefficients and a differentiable inverse.

    Subclass it to explain a model in a domain of your own, as in the reference: implement
    ``forward_transform`` and ``inverse_transform`` (and ``set_coefficients`` when the coefficients are
    not simply ``forward_transform`` of the input and of the baseline), then call
    ``CrossDomainIG(...).initialize_domain(MyDomain, ...)``. ``run`` integrates along the straight path
    from the baseline coefficients to the coefficients, through ``inverse_transform``.

    Parameters
    ----------
    device : str or torch.device, optional
        Where the coefficients live. None: the device of the input handed to ``set_coefficients``.
    dtype : torch.dtype, optional
        The real dtype of the coefficients (default ``torch.float32``, as in the reference).

    Attributes
    ----------
    coefficients, baseline_coefficients : tensor or None
        Set by :meth:`set_coefficients`; the first axis holds the samples of the batch.
    linear : bool
        Set it to True in a subclass whose ``inverse_transform`` is affine in the coefficients: cdig
        then integrates along the equivalent straight path of inputs (same numbers, no calls of the
        inverse along the path). False (the default) is always correct.

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

    def __init__(self, device: Any = None, dtype: Any = None) -> None:
        self.device = device
        self.dtype = dtype if dtype is not None else _torch_ops().default_dtype()
        self.coefficients: Any = None
        self.baseline_coefficients: Any = None

    def _tensor(self, a: Any, dtype: Any = None) -> Any:
        ops = _torch_ops()
        device = self.device if self.device is not None else (a.device if ops.is_tensor(a) else "cpu")
        return ops.tensor(a, self.dtype if dtype is None else dtype, device)

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
        """The model input whose coefficients are ``x_input``; differentiable (written in torch)."""
        raise NotImplementedError(f"{type(self).__name__} must implement inverse_transform(coefficients)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device!r}, dtype={self.dtype!r})"


class TimeDomain(DomainBase):
    """The identity: the coefficients are the samples themselves (classic Integrated Gradients).

    Examples
    --------
    >>> import torch
    >>> d = TimeDomain()
    >>> x = torch.randn(1, 2, 5)
    >>> bool((d.inverse_transform(d.forward_transform(x)) == x).all())
    True
    """

    linear = True

    def __init__(self, device: Any = None, dtype: Any = None, time_dimension: int = -1) -> None:
        super().__init__(device, dtype)
        self.time_dimension = time_dimension  # unused, as in the reference

    def forward_transform(self, x: Any) -> Any:
        return x

    def inverse_transform(self, x_input: Any) -> Any:
        return x_input


class FourierDomain(DomainBase):
    """The full two-sided FFT along ``time_dimension``; the inverse keeps the real part of the iFFT.

    The coefficients are complex (``complex64`` for the default ``float32``). Each bin's score adds
    the scores of its real and imaginary parts, ``Re[ΔX_k · conj(G_k)]``; for a real signal and
    baseline bins ``k`` and ``T - k`` get the same score, and the scores sum to ``f(x) - f(x0)``.

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

    def __init__(self, device: Any = None, dtype: Any = None, time_dimension: int = -1) -> None:
        super().__init__(device, dtype)
        self.time_dimension = time_dimension

    def forward_transform(self, x: Any) -> Any:
        return _torch_ops().fft(x, self.time_dimension, self.dtype)

    def inverse_transform(self, x_input: Any) -> Any:
        return _torch_ops().ifft_real(x_input, self.time_dimension, self.dtype)


class ICADomain(DomainBase):
    """The reference's ICA domain: the mixing matrix is scaled from zero with the sources fixed.

    For each sample ``x`` of shape ``(C, T)`` the sources are ``S = ica.transform(x.T)`` ``(T, K)``,
    the coefficients are ``mixing_.T`` ``(K, C)``, the baseline coefficients are zero and
    ``inverse_transform(A) = (S @ A + mean_).T``. The path is ``x(α) = α·S·mixing_ᵀ + mean_``: it
    starts at the channel means whatever baseline is given (``x_baseline`` is ignored).

    Parameters
    ----------
    device : str or torch.device, optional
        As in :class:`DomainBase`.
    ica : object
        One fitted, whitened ``sklearn.decomposition.FastICA`` (or an object with its fitted
        interface: ``mixing_``, ``mean_``, ``transform``), used for every sample.
    dtype : torch.dtype, optional
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
        return np.asarray(self.ica.transform(_torch_ops().to_numpy(x)))

    def set_coefficients(self, x: Any, x_baseline: Any) -> None:
        xt = self._tensor(x)
        if xt.ndim != 3:
            raise CdigValueError(
                f"x has shape {tuple(xt.shape)}; the ICA domain takes a batch (N, C, T) with the channels on "
                "axis 1 (add a batch axis for one sample: x[None])"
            )
        xn = _torch_ops().to_numpy(xt)
        fitted = self.fitted_matrices(xn)
        sources = np.stack([self.forward_transform(xn[i].T) for i in range(xn.shape[0])])
        self.sources_ = self._tensor(sources)
        self.mean_ = self._tensor(fitted.mean_)
        mixing_t = self._tensor(fitted.mixing_.T)
        self.coefficients = _torch_ops().broadcast(mixing_t, (xn.shape[0],) + tuple(mixing_t.shape))
        self.baseline_coefficients = _torch_ops().zeros_like(self.coefficients)

    def inverse_transform(self, x_input: Any) -> Any:
        if self.sources_ is None:
            raise CdigValueError(
                "ICADomain.inverse_transform needs the sources: call set_coefficients(x, x_baseline) first"
            )
        return (self.sources_ @ x_input + self.mean_).transpose(-1, -2)


# --- cdig's view of a DomainBase ---------------------------------------------------------------
class _StraightPath(Domain):
    """A :class:`DomainBase` as a :class:`cdig.Domain`: its coefficients and ``inverse_transform``.

    ``forward`` hands cdig the coefficients the DomainBase set (the reference reads them back with
    ``get_coefficients``, which need not be ``forward_transform`` of the input); the baseline
    coefficients go to :func:`cdig.explain` as ``baselines={name: ...}``. ``inverse`` returns the
    model's input in cdig's canonical layout for the ``time_axis`` the run uses (see :func:`_time_axis`).
    """

    def __init__(self, domain: DomainBase, n_samples: int, input_ndim: int, channels_last: bool) -> None:
        self.domain = domain
        self.name = "compat"
        self.linear = bool(getattr(domain, "linear", False))
        self.n_samples = n_samples
        self.input_ndim = input_ndim
        self.channels_last = channels_last

    def _require_tensor(self, a: Any) -> None:
        # The DomainBase is written in torch: cdig's numpy probes of a domain must not run it.
        if not _torch_ops().is_tensor(a):
            raise CdigTypeError(f"{type(self.domain).__name__} runs on torch tensors, got {type(a).__name__}")

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


def _time_axis(shape: tuple[int, ...]) -> int:
    """A time axis cdig accepts for ``shape``; only the layout bookkeeping depends on it here."""
    return 1 if len(shape) == 3 and shape[-1] < 2 <= shape[1] else -1


# --- the explainers ---------------------------------------------------------------------------
class CrossDomainIG:
    """Integrated Gradients in a domain of the reference package's kind (see :class:`DomainBase`).

    Parameters
    ----------
    model : torch.nn.Module or callable
        Returns ``(N, outputs)`` for a batch; ``output_channel`` picks the explained output (raw, no
        softmax). The model is left as it was: no ``.grad`` piles up on its parameters and its
        training mode is restored (cdig explains in eval mode and warns if dropout/batch-norm are training).
    n_iterations : int
        Points of the integration rule.
    output_channel : int
        Index of the explained output (default 0).
    device : str or torch.device, optional
        Where the result is returned. Default: the model's device. A ``torch.dtype`` given here (the
        reference's fourth positional argument of ``CrossDomainIG`` is ``dtype``) is taken as ``dtype``.
    dtype : torch.dtype, optional
        The dtype inputs are cast to and results are returned in (default ``torch.float32``).
    method : str
        The integration rule, keyword only: ``"riemann_right"`` (default; the reference's
        ``α = i/n, i = 1..n``), ``"gausslegendre"``, ``"riemann_left"``, ``"riemann_middle"``,
        ``"riemann_trapezoid"``.
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
        """Set ``self.domain = Domain(**kwargs)``, as in the reference."""
        if not (isinstance(Domain, type) and issubclass(Domain, DomainBase)):
            raise CdigTypeError(
                f"initialize_domain takes a subclass of cdig.compat.DomainBase (the class, not an instance), got "
                f"{Domain!r}; cdig.Domain objects go to cdig.explain(model, x, domains=[...])"
            )
        self.domain = Domain(**kwargs)

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
        x : numpy array or tensor, shape (N, C, T)
            The batch, in the model's input layout (``N >= 1``).
        x_baseline : numpy array, tensor, scalar or None
            The time-domain baseline, broadcastable to ``x``; None is the zero signal.

        Returns
        -------
        tensor
            The map of every sample, shaped like the domain's coefficients (samples first), on
            ``device`` (default: the model's) in ``dtype``.
        """
        if self.domain is None:
            raise CdigValueError(
                "this CrossDomainIG has no domain: call initialize_domain(DomainClass, **kwargs) before run, "
                "or use TimeIG / FourierIG / ICAIG"
            )
        xt, x0t = self._inputs(x, x_baseline)
        self.multiIG = self._ops.tensor(self._values(xt, x0t), self.dtype, self._out_device(x))
        return self.multiIG

    # --- steps of run ---------------------------------------------------------------------
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
        try:
            x0t = ops.broadcast(x0t, tuple(xt.shape))
        except RuntimeError:
            raise CdigValueError(
                f"x_baseline has shape {tuple(x0t.shape)}, which does not broadcast to x's shape {tuple(xt.shape)}; "
                "accepted: None, a scalar, or an array broadcastable to x"
            ) from None
        check_input(ops.to_numpy(x0t), "x_baseline")
        return xt, x0t

    def _explain(self, x: Any, domains: list[Domain], baselines: Any) -> Attribution:
        """One cdig explanation of ``x`` with this object's target and rule."""
        result = explain(
            self.model, x, domains, target=self.output_channel, baselines=baselines, n_steps=self.n_iterations,
            method=self.method, internal_batch_size=self.internal_batch_size, time_axis=_time_axis(tuple(x.shape)),
            progress=self.progress,
        )
        (self.attribution_,) = result.values()
        return self.attribution_

    def _values(self, x: Any, x0: Any) -> np.ndarray:
        """The domain's map along the straight path of its coefficients (numpy, samples first)."""
        domain = self.domain
        assert domain is not None
        domain.set_coefficients(x, self._ops.zeros_like(x) if x0 is None else x0)
        path = _StraightPath(domain, int(x.shape[0]), x.ndim, _time_axis(tuple(x.shape)) == 1)
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
        self.domain = self._preset(device=device, dtype=self.dtype)


class TimeIG(_PresetIG):
    """Integrated Gradients on the samples: a map ``(N, C, T)``.

    With the default rule this is ``(x - x0) ⊙ (1/n) Σ_{i=1..n} ∇f(x0 + (i/n)(x - x0))`` for each
    sample, the reference's numbers. Parameters as in :class:`CrossDomainIG`.

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
    Parameters as in :class:`CrossDomainIG`.

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
        fits it on one sample's ``(T, C)`` data: ``FastICA(...).fit(x[0].T)``).
    honour_baseline : bool
        Keyword only. True integrates cdig's ``ICA`` domain from the sources of ``x_baseline`` to those
        of ``x`` instead (``cdig.explain(model, x, [cdig.ICA(ica)], baselines=x_baseline)``).

    Returns
    -------
    From :meth:`run`: a tensor ``(N, K)``, or ``(K,)`` when the batch holds one sample (the reference's
    shape; ``result.reshape(len(x), -1)`` gives ``(N, K)`` in both cases).

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
        self.domain = ICADomain(device=device, ica=ica, dtype=self.dtype)

    def run(self, x: Any, x_baseline: Any = None) -> Any:
        """Scores per component of every sample: ``(N, K)``, or ``(K,)`` for a batch of one.

        See :meth:`CrossDomainIG.run`; ``x`` must be ``(N, C, T)``.

        Warns
        -----
        cdig.CdigWarning
            When ``x_baseline`` is not the channel means ``ica.mean_`` and ``honour_baseline`` is False.
        """
        return super().run(x, x_baseline)

    def _values(self, x: Any, x0: Any) -> np.ndarray:
        if x.ndim != 3:
            raise CdigValueError(
                f"x has shape {tuple(x.shape)}; ICAIG takes a batch (N, C, T) with the channels on axis 1 "
                "(add a batch axis for one sample: x[None])"
            )
        if self.honour_baseline:
            self.domain.set_coefficients(x, x0)  # the reference's view of the domain, for .domain users
            scores = self._explain(x, [ICA(self.ica)], x0).values
        else:
            if x0 is not None:
                self._warn_ignored_baseline(x, x0)
            scores = super()._values(x, None).sum(axis=-1)
        return scores[0] if scores.shape[0] == 1 else scores

    def _warn_ignored_baseline(self, x: Any, x0: Any) -> None:
        mean = np.asarray(self.domain.fitted_matrices(self._ops.to_numpy(x[:1])).mean_, dtype=np.float64)
        b = self._ops.to_numpy(x0).astype(np.float64)
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
