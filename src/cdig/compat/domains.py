"""The reference package's domains: coefficients, baseline coefficients and a differentiable inverse.

:class:`DomainBase` and the three domains the reference ships (:class:`TimeDomain`,
:class:`FourierDomain`, :class:`ICADomain`), computing in the model's framework through
:mod:`cdig.compat.ops`. Their constructors read the reference's two signatures through
:mod:`cdig.compat.args`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.errors import CdigValueError
from ..domains import ICA
from .args import domain_args, ica_domain_args
from .ops import FrameworkOps

__all__ = ["DomainBase", "TimeDomain", "FourierDomain", "ICADomain"]


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
    imported (the reference's ``torch_ig``), else TensorFlow; so a domain that builds another one in
    its ``__init__`` passes it ``dtype=self.dtype``.

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
    #: The framework's ops, fixed at construction.
    _ops: FrameworkOps

    def __init__(self, device: Any = None, dtype: Any = None) -> None:
        # An explainer building this domain hands it its framework by setting ``_ops`` on the instance
        # before ``__init__`` runs (``CrossDomainIG._build_domain``), so that a subclass's own
        # ``__init__``, written as in the reference, need not pass it on.
        args = domain_args(device, dtype, self.__dict__.get("_ops"))
        self._ops = args.ops
        self.device = args.device
        self.dtype = args.dtype
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

    def __init__(
        self, device: Any = None, dtype: Any = None, time_dimension: int = -1, *, channel_permutation: Sequence[int] = (0, 2, 1)
    ) -> None:
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

    def __init__(
        self, device: Any = None, dtype: Any = None, time_dimension: int = -1, *, channel_permutation: Sequence[int] = (0, 2, 1)
    ) -> None:
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

    def __init__(
        self, device: Any = None, ica: Any = None, dtype: Any = None, channel_permutation: Sequence[int] = (0, 2, 1)
    ) -> None:
        device, ica, dtype, channel_permutation = ica_domain_args(device, ica, dtype, channel_permutation)
        super().__init__(device, dtype)
        self.ica = ica
        self.channel_permutation = channel_permutation
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
                f"x has shape {tuple(xt.shape)}; the ICA domain takes a batch {self._ops.layout} "
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
            raise CdigValueError("ICADomain.inverse_transform needs the sources: call set_coefficients(x, x_baseline) first")
        x = self.sources_ @ x_input + self.mean_  # (N, T, C)
        return x if self._ops.channels_last else self._ops.transpose(x, (0, 2, 1))
