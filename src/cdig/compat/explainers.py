"""The reference package's explainers: Integrated Gradients in a :class:`~cdig.compat.DomainBase`.

:class:`CrossDomainIG` turns a DomainBase into a straight path that :func:`cdig.explain` integrates
(:class:`_StraightPath`); :class:`TimeIG`, :class:`FourierIG` and :class:`ICAIG` preset the domain.
The framework calls go through :mod:`cdig.compat.ops`, the reference's signatures through
:mod:`cdig.compat.args`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..api import explain
from ..core.attribution import Attribution
from ..core.checks import check_input
from ..core.errors import CdigTypeError, CdigValueError, CdigWarning
from ..domains import ICA, Domain
from .args import explainer_args
from .domains import DomainBase, FourierDomain, ICADomain, TimeDomain
from .ops import FrameworkOps

__all__ = ["CrossDomainIG", "TimeIG", "FourierIG", "ICAIG", "fourier_two_sided", "REFERENCE_METHOD"]

#: The reference's (torch side's) integration rule: right Riemann sum, alpha = i/n for i = 1..n.
REFERENCE_METHOD = "riemann_right"


def _time_axis(shape: tuple[int, ...], channels_last: bool = False) -> int:
    """A time axis cdig accepts for ``shape``; only the layout bookkeeping depends on it here.

    The framework's convention (axis 1 channels last, else -1) unless that axis is too short for a
    time axis and the other one is not.
    """
    if len(shape) != 3:
        return -1
    usual, other = (1, -1) if channels_last else (-1, 1)
    return other if shape[usual] < 2 <= shape[other] else usual


# --- cdig's view of a DomainBase ---------------------------------------------------------------
class _StraightPath(Domain):
    """A :class:`DomainBase` as a :class:`cdig.Domain`: its coefficients and ``inverse_transform``.

    ``forward`` hands cdig the coefficients the DomainBase set (the reference reads them back with
    ``get_coefficients``, which need not be ``forward_transform`` of the input); the baseline
    coefficients go to :func:`cdig.explain` as ``baselines={name: ...}``. ``inverse`` returns the
    model's input in cdig's canonical layout for the ``time_axis`` the run uses (see :func:`_time_axis`).
    """

    def __init__(self, domain: DomainBase, ops: FrameworkOps, n_samples: int, input_ndim: int, channels_last: bool) -> None:
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

    def __init__(
        self,
        model: Any,
        n_iterations: int,
        output_channel: int = 0,
        device: Any = None,
        dtype: Any = None,
        *,
        method: str = REFERENCE_METHOD,
        internal_batch_size: int | None = None,
        progress: bool = False,
    ) -> None:
        args = explainer_args(model, n_iterations, output_channel, device, dtype, method)
        self._ops = args.ops
        self.model = model
        self.n_iterations = args.n_iterations
        self.output_channel = args.output_channel
        self.device = args.device
        self.dtype = args.dtype
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
        """``Domain(**kwargs)`` in the model's framework: the instance is given ``_ops`` before its
        ``__init__`` runs, whatever that ``__init__`` passes on to :class:`DomainBase` (see there)."""
        domain = Domain.__new__(Domain)
        domain._ops = self._ops
        Domain.__init__(domain, **kwargs)
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
            self.model,
            x,
            domains,
            target=self.output_channel,
            baselines=baselines,
            n_steps=self.n_iterations,
            method=self.method,
            internal_batch_size=self.internal_batch_size,
            time_axis=self._time_axis(x),
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
        return (
            f"{type(self).__name__}(n_iterations={self.n_iterations}, output_channel={self.output_channel}, "
            f"method={self.method!r}, domain={self.domain!r})"
        )


class _PresetIG(CrossDomainIG):
    """A :class:`CrossDomainIG` whose domain is fixed by the class (``_preset``)."""

    _preset: type[DomainBase]

    def __init__(
        self,
        model: Any,
        n_iterations: int,
        output_channel: int = 0,
        device: Any = None,
        dtype: Any = None,
        *,
        method: str = REFERENCE_METHOD,
        internal_batch_size: int | None = None,
        progress: bool = False,
    ) -> None:
        super().__init__(
            model,
            n_iterations,
            output_channel,
            device,
            dtype,
            method=method,
            internal_batch_size=internal_batch_size,
            progress=progress,
        )
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

    def __init__(
        self,
        model: Any,
        ica: Any,
        n_iterations: int,
        output_channel: int = 0,
        device: Any = None,
        dtype: Any = None,
        *,
        method: str = REFERENCE_METHOD,
        internal_batch_size: int | None = None,
        progress: bool = False,
        honour_baseline: bool = False,
    ) -> None:
        super().__init__(
            model,
            n_iterations,
            output_channel,
            device,
            dtype,
            method=method,
            internal_batch_size=internal_batch_size,
            progress=progress,
        )
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
                f"x has shape {tuple(x.shape)}; ICAIG takes a batch {self._ops.layout} (add a batch axis for one sample: x[None])"
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
            raise CdigTypeError(
                f"ICAIG explains in an ICADomain, got {type(domain).__name__}; use CrossDomainIG for a domain of another kind"
            )
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
