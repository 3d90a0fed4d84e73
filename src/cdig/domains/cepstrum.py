"""The complex cepstrum: ``c = irfft(log|X| + i·unwrap(arg X))``, with the input's sign and delay held fixed."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.checks import check_real
from ..core.errors import CdigValueError
from .base import Domain, time_coords
from .magphase import ROUNDOFF, check_zero_tol, complex_from_parts, machine_eps, zero_threshold

__all__ = ["ComplexCepstrum"]


def _unwrap(phase: Any, xp: Any, spread: Any) -> Any:
    """Unwrap along the last axis: each step between neighbours brought into ``[−π, π]`` (as ``np.unwrap``),
    and a step within its tie margin of ``−π`` taken as ``+π``.

    ``spread`` is how far each phase could move (radians) for a change of the signal below the zero
    threshold; a step's margin is the sum of its two ends' (at most π/2). So neighbours in antiphase
    (a step of ±π up to such changes) always unwrap upwards.
    """
    step = phase[..., 1:] - phase[..., :-1]
    step = step - (2 * np.pi) * xp.round(step / (2 * np.pi))
    slack = spread[..., 1:] + spread[..., :-1]
    slack = xp.where(slack > np.pi / 2, xp.zeros_like(slack) + np.pi / 2, slack)
    step = xp.where(step <= slack - np.pi, step + 2 * np.pi, step)
    first = phase[..., :1]
    return xp.concat([first, first + xp.cumulative_sum(step, axis=-1)], axis=-1)


class ComplexCepstrum(Domain, register=True):
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
    zero_tol : float or None
        A bin whose magnitude is at most ``zero_tol · Σ_t |s_t|`` (the sum over that sample and
        channel of the signal ``s``) counts as zero (see Notes). None (default): ``1e-10`` for
        float64 signals, ``1e-5`` for float32 (and narrower) ones; 0: only exact zeros. Raise it when
        the data went through a coarser precision than the one explained.

    Notes
    -----
    *Sign and delay.* ``irfft`` sees no imaginary part at DC (and at Nyquist for even ``T``), so the
    unwrapped phase must be a multiple of 2π there for the cepstrum to be invertible. :meth:`fit`
    therefore removes, per sample and channel, the sign of the input's DC bin (a phase of π) and its
    integer linear-phase term (a circular delay of ``ρ`` samples, ``ρ = round(φ_u(Nyquist)/π)`` for
    even ``T``, the nearest integer slope through the last bin for odd ``T``), as ``θ_k = 2πρk/T +
    π·[DC < 0]``. This is the usual linear-phase removal of the complex cepstrum; ``θ`` is a fixed
    constant of the domain, added back by the inverse, so the input is reconstructed to float
    precision. A zero DC (below) has no sign: ``[DC < 0]`` is 0 for it.

    *Zero bins.* A bin with ``|X_k| ≤ τ·Σ_t |s_t|`` (``τ = zero_tol``; the sum over the signal's
    sample and channel bounds the round-off of every bin, whatever ``T``) counts as zero: its log
    magnitude is ``log(eps)`` and its phase (after ``θ``) 0. Otherwise an input whose bin is zero
    up to round-off — the DC of a zero-mean, per-sample standardised signal — would have its sign
    (and so ``θ``, and every coefficient) chosen by the sign of round-off, and its log magnitude
    ``log(|X_k| + eps)`` would move by ``|X_k| / eps`` with ``|X_k|`` (``1e-12`` per sample moves a
    64-sample DC by ``6.4e-11``, its log by ``6.4e-3``). With it, the coefficients are
    constant under such changes and always finite; the inverse gives zero at those bins, so the
    input is reconstructed within ``τ·Σ_t |x_t|`` per zero bin (exactly elsewhere), and cdig
    integrates between the reconstructions. The jump this rule makes is at ``|X_k| = τ·Σ_t |x_t|``,
    far above round-off.

    *Unwrapping.* The phase of ``Y`` is unwrapped along frequency from its DC value, each step between
    neighbouring bins brought into ``[−π, π]``; it is meaningful when the phase changes by less than π
    between bins (generic signals; not at spectral zeros). Components of ``Y_k`` within round-off,
    ``32·eps·Σ_t |s_t|``, are exact zeros (a real bin has phase exactly 0 or π), and a step within
    ``(τ + 32·eps)·Σ_t |s_t|·(1/|Y_k| + 1/|Y_{k+1}|)`` of ``−π`` (at most π/2; what a change of the
    signal by that fraction of ``Σ_t |s_t|`` can turn it by) is taken as ``+π``: neighbours in
    antiphase always unwrap upwards, not as round-off decides.

    *The baseline.* Other signals (the baseline) are transformed with the input's ``θ``. A baseline is
    reconstructed exactly when its DC has the input's sign (or is zero; a zero DC of the input
    counts as positive) and, for even ``T``, its own delay differs from the input's by an even
    number of samples; otherwise its DC (Nyquist) bin comes back with the opposite sign. cdig
    integrates from ``inverse(z0)`` and reports ``f`` there as
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

    A zero-mean input: its DC bin is zero (log magnitude ``log(eps)``), whatever the sign of its
    round-off.

    >>> xc = x - x.mean(axis=-1, keepdims=True)
    >>> q = np.fft.rfft(ComplexCepstrum().fit(xc).forward(xc, np))
    >>> bool(np.allclose(q[..., 0].real, np.log(1e-8)))
    True
    """

    name = "cepstrum"
    linear = False
    dims = ("channel", "quefrency")
    coord_units = {"quefrency": ("s", "sample")}
    order = 60

    def __init__(self, eps: float = 1e-8, zero_tol: float | None = None) -> None:
        # the offset added to magnitudes before the log
        self.eps = check_real(eps, "eps", min=0, include_min=False)
        self.zero_tol = check_zero_tol(zero_tol)
        self.n_times_: int | None = None
        self.theta_: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> "ComplexCepstrum":
        """Store the input's sign and integer delay per sample and channel as ``θ`` (see Notes).

        Computed in float64 from ``x``; the zero threshold and round-off follow ``x``'s precision.
        """
        x = np.asarray(x)
        t = int(x.shape[-1])
        if t < 2:
            raise CdigValueError(f"the cepstrum needs at least 2 time steps, got {t}")
        x64 = x.astype(np.float64)
        spec = np.fft.rfft(x64, axis=-1)
        size = np.abs(x64).sum(axis=-1, keepdims=True)
        # a zero DC (magnitude ≤ zero_tol · Σ|x_t|) has no sign
        negative = spec[..., 0].real < -zero_threshold(self.zero_tol, x.dtype) * size[..., 0]
        phase, _, _ = self._phase(np.where(negative[..., None], -spec, spec), size, x.dtype, np)
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

    def _phase(self, y: Any, size: Any, dtype: Any, xp: Any) -> tuple[Any, Any, Any]:
        """Unwrapped phase, magnitude and zero-bin mask of a spectrum ``y`` (already turned by ``−θ``).

        ``size`` is ``Σ_t |s_t|`` of each sample and channel (trailing axis of length 1). Components
        within round-off are exact zeros; zero bins (magnitude ``≤ zero_tol · size``) have phase 0.
        """
        re, im = xp.real(y), xp.imag(y)
        mag = xp.abs(y)
        zeros = xp.zeros_like(mag)
        noise = (ROUNDOFF * machine_eps(dtype)) * size
        re = xp.where(xp.abs(re) <= noise, zeros, re)  # +0.0: atan2(+0, −a) is +π, never −π
        im = xp.where(xp.abs(im) <= noise, zeros, im)
        tol = zero_threshold(self.zero_tol, dtype)
        zero = mag <= tol * size
        phase = xp.where(zero, zeros, xp.atan2(im, re))
        # how far a change of the signal by (zero_tol + round-off) · Σ|s_t| could turn each phase
        spread = xp.where(zero, zeros, ((tol + ROUNDOFF * machine_eps(dtype)) * size) / xp.maximum(mag, noise + 1e-30))
        return _unwrap(phase, xp, spread), mag, zero

    def select_rows(self, idx: np.ndarray) -> "ComplexCepstrum":
        view = ComplexCepstrum.__new__(ComplexCepstrum)
        view.__dict__.update(self.__dict__)
        view.theta_ = None if self.theta_ is None else self.theta_[idx]  # unfitted: _theta() says so
        return view

    def _theta(self, like: Any, xp: Any, shape: tuple[int, ...]) -> Any:
        self.check_fitted("theta_")
        assert self.theta_ is not None  # check_fitted raised otherwise
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
        y = complex_from_parts(re * cos + im * sin, im * cos - re * sin, xp)  # X e^{−iθ}
        size = xp.sum(xp.abs(x), axis=-1)[..., None]  # Σ_t |s_t|: bounds the round-off of every bin
        phase, mag, zero = self._phase(y, size, x.dtype, xp)
        log_mag = xp.log(xp.where(zero, xp.zeros_like(mag), mag) + self.eps)
        return xp.fft.irfft(complex_from_parts(log_mag, phase, xp), n=self.n_times_, axis=-1)

    def inverse(self, z: Any, xp: Any) -> Any:
        q = xp.fft.rfft(z, axis=-1)
        mag = xp.exp(xp.real(q)) - self.eps
        phase = xp.imag(q) + self._theta(mag, xp, tuple(z.shape))
        return xp.fft.irfft(complex_from_parts(mag * xp.cos(phase), mag * xp.sin(phase), xp), n=self.n_times_, axis=-1)

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        q, unit = time_coords(shape[-1], fs)
        return {"channel": np.arange(shape[0]), "quefrency": q}, {"quefrency": unit}
