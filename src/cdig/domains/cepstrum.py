"""The complex cepstrum: ``c = irfft(log|X| + i·unwrap(arg X))``, with the input's sign and delay held fixed."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import CdigTypeError, CdigValueError
from .base import Domain, time_coords
from .magphase import complex_from_parts

__all__ = ["ComplexCepstrum"]


def _unwrap(phase: Any, xp: Any) -> Any:
    """Unwrap along the last axis: each step between neighbours brought into [−π, π] (as ``np.unwrap``)."""
    step = phase[..., 1:] - phase[..., :-1]
    step = step - (2 * np.pi) * xp.round(step / (2 * np.pi))
    first = phase[..., :1]
    return xp.concat([first, first + xp.cumulative_sum(step, axis=-1)], axis=-1)


class ComplexCepstrum(Domain):
    """Complex cepstrum along time: one real coefficient per quefrency (nonlinear).

    ``c = irfft(log(|Y| + eps) + i·unwrap(arg Y))`` with ``Y_k = X_k e^{−iθ_k}``, ``X = rfft(x)``, and
    the inverse ``x = irfft((exp(Re Q) − eps)·e^{i(Im Q + θ)})`` with ``Q = rfft(c)``. Low quefrencies
    describe the spectral envelope (resonances, timbre), high ones fine spectral structure
    (periodicity, echoes); the odd part of ``c`` carries the phase (timing).

    Parameters
    ----------
    eps : float
        Added to the magnitudes before the log, so that a zero magnitude (e.g. of a zero baseline) has
        the finite log ``log(eps)``; the inverse subtracts it again, so ``inverse(forward(x)) = x``.
        Must be positive; choose it well below the magnitudes that matter (the default suits signals
        of order one).

    Notes
    -----
    *Sign and delay.* ``irfft`` sees no imaginary part at DC (and at Nyquist for even ``T``), so the
    unwrapped phase must be a multiple of 2π there for the cepstrum to be invertible. :meth:`fit`
    therefore removes, per sample and channel, the sign of the input's DC bin (a phase of π) and its
    integer linear-phase term (a circular delay of ``ρ`` samples, ``ρ = round(φ_u(Nyquist)/π)`` for
    even ``T``, the nearest integer slope through the last bin for odd ``T``), as ``θ_k = 2πρk/T +
    π·[DC < 0]``. This is the usual linear-phase removal of the complex cepstrum; ``θ`` is a fixed
    constant of the domain, added back by the inverse, so the input is reconstructed to float
    precision.

    *Unwrapping.* The phase of ``Y`` is unwrapped along frequency from its DC value, each step between
    neighbouring bins brought into ``[−π, π]``; it is meaningful when the phase changes by less than π
    between bins (generic signals; not at spectral zeros).

    *The baseline.* Other signals (the baseline) are transformed with the input's ``θ``. A baseline is
    reconstructed exactly when its DC has the input's sign (or is zero) and, for even ``T``, its own
    delay differs from the input's by an even number of samples; otherwise its DC (Nyquist) bin comes
    back with the opposite sign. cdig integrates from ``inverse(z0)`` and reports ``f`` there as
    ``baseline_output``, so completeness holds either way. The zero baseline gives ``log(eps)`` at
    quefrency 0 and zeros elsewhere (``inverse`` gives back zero; quefrency 0 then carries the large
    step ``log(1/eps)``). A coefficient baseline
    ``baselines={"cepstrum": c0}`` (real, ``(N, C, T)``) is used as given: ``c0 = log(a)·δ`` is a
    flat spectrum of magnitude ``a − eps`` with the input's sign and delay.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(2, 3, 32))
    >>> d = ComplexCepstrum().fit(x)
    >>> c = d.forward(x, np)
    >>> c.shape, bool(np.allclose(d.inverse(c, np), x, atol=1e-12))
    ((2, 3, 32), True)
    """

    name = "cepstrum"
    linear = False
    dims = ("channel", "quefrency")

    def __init__(self, eps: float = 1e-8) -> None:
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)):
            raise CdigTypeError(f"eps must be a positive float, got {eps!r}")
        if not 0 < float(eps) < np.inf:
            raise CdigValueError(
                f"eps={eps!r}: the offset added to magnitudes before the log must be positive and finite "
                "(e.g. 1e-8)"
            )
        self.eps = float(eps)
        self.n_times_: int | None = None
        self.theta_: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> "ComplexCepstrum":
        x = np.asarray(x, dtype=np.float64)
        t = int(x.shape[-1])
        if t < 2:
            raise CdigValueError(f"the cepstrum needs at least 2 time steps, got {t}")
        spec = np.fft.rfft(x, axis=-1)
        negative = spec[..., 0].real < 0
        phase = np.unwrap(np.angle(np.where(negative[..., None], -spec, spec)), axis=-1)
        k = np.arange(spec.shape[-1])
        last = spec.shape[-1] - 1
        if t % 2 == 0:
            rho = np.round(phase[..., -1] / np.pi)
        else:
            rho = np.round(phase[..., -1] * t / (2 * np.pi * last)) if last > 0 else np.zeros(negative.shape)
        self.n_times_ = t
        self.delay_ = rho.astype(np.int64)
        self.theta_ = 2 * np.pi * rho[..., None] * k / t + np.pi * negative[..., None]
        return self

    def select_rows(self, idx: np.ndarray) -> "ComplexCepstrum":
        view = ComplexCepstrum.__new__(ComplexCepstrum)
        view.__dict__.update(self.__dict__)
        view.theta_ = self.theta_[idx]
        return view

    def _theta(self, like: Any, xp: Any, shape: tuple[int, ...]) -> Any:
        if self.theta_ is None:
            raise CdigValueError("ComplexCepstrum is not fitted: call .fit(x) on the input (cdig.explain does)")
        if tuple(shape[:-1]) != self.theta_.shape[:-1] or int(shape[-1]) != self.n_times_:
            raise CdigValueError(
                f"ComplexCepstrum was fitted on a batch of shape {self.theta_.shape[:-1] + (self.n_times_,)} "
                f"but got {tuple(shape)}; fit it on the batch explained"
            )
        return self.constant(self.theta_, like, xp)

    def forward(self, x: Any, xp: Any) -> Any:
        spec = xp.fft.rfft(x, axis=-1)
        re, im = xp.real(spec), xp.imag(spec)
        theta = self._theta(re, xp, tuple(x.shape))
        cos, sin = xp.cos(theta), xp.sin(theta)
        # arg(X e^{−iθ}); "+ 0.0" makes a zero bin's phase 0 (atan2(±0, -0) is ±π)
        phase = _unwrap(xp.atan2(im * cos - re * sin, re * cos + im * sin + 0.0), xp)
        log_mag = xp.log(xp.abs(spec) + self.eps)
        return xp.fft.irfft(complex_from_parts(log_mag, phase, xp), n=self.n_times_, axis=-1)

    def inverse(self, z: Any, xp: Any) -> Any:
        q = xp.fft.rfft(z, axis=-1)
        mag = xp.exp(xp.real(q)) - self.eps
        phase = xp.imag(q) + self._theta(mag, xp, tuple(z.shape))
        return xp.fft.irfft(complex_from_parts(mag * xp.cos(phase), mag * xp.sin(phase), xp), n=self.n_times_,
                            axis=-1)

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        q, unit = time_coords(shape[-1], fs)
        return {"channel": np.arange(shape[0]), "quefrency": q}, {"quefrency": unit}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "eps": self.eps}

    def __repr__(self) -> str:
        return f"ComplexCepstrum(eps={self.eps!r})"
