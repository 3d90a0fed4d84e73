"""Magnitude and phase of the real FFT as separate real coordinates: amplitude or timing?"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import CdigValueError
from .base import Domain

__all__ = ["MagnitudePhase"]

#: Accepted values of ``baseline_phase``.
PHASE_CONVENTIONS = ("input", "own")


def complex_from_parts(re: Any, im: Any, xp: Any) -> Any:
    """``re + i·im`` for real arrays of ``xp``.

    A namespace may offer ``complex(re, im)`` (TensorFlow's does not promote ``1j * tensor``); the
    Array-API namespaces of numpy, PyTorch and JAX promote ``re + 1j * im`` to the matching complex
    dtype, and autograd flows through it.
    """
    make = getattr(xp, "complex", None)
    if callable(make) and not isinstance(make, type):
        return make(re, im)
    return re + 1j * im


class MagnitudePhase(Domain):
    """rFFT magnitudes and phases ``(|X_k|, arg X_k)`` as two real coordinates per bin (nonlinear).

    The coefficients of a canonical batch ``(N, C, T)`` are stacked ``(N, C, 2, F)``, ``F = T//2 + 1``,
    with the component axis ``("magnitude", "phase")``; the inverse is
    ``x = irfft(m·cos φ + i·m·sin φ)``. cdig integrates along the straight path in ``(m, φ)``, so the
    two components of a bin split its score into "how strong" and "where in time". ``values`` keep
    the full map ``(N, C, 2, F)``; ``extras["totals"]`` holds the per-component sums ``(N, C, 2)``.

    Parameters
    ----------
    baseline_phase : {"input", "own"}
        How the phases of signals other than the explained input (the baseline) are taken.

        * ``"input"`` (default): relative to the input's phase ``φ`` (stored by :meth:`fit`), as
          ``φ + angle(X0 · conj(e^{iφ}))``, so that ``|φ − φ0| ≤ π`` for every bin (the path never
          turns the long way round), and a bin where the baseline's magnitude is zero — its phase is
          undefined — takes the input's phase. With the default zero baseline the path only scales
          magnitudes: it is the time-domain straight path ``α·x``, the phase component scores exactly
          zero and the magnitude component scores ``f(x) − f(0)``.
        * ``"own"``: each signal's principal phase in ``(−π, π]`` (``atan2``; a zero-magnitude bin has
          phase 0). From a zero baseline the path then also rotates every phase from 0 to the input's,
          and the phase component measures how much the input's timing matters relative to a
          zero-phase (symmetric, time-centred at 0) signal of the same growing magnitudes.

    Notes
    -----
    * The input's own phases are principal values in ``(−π, π]``; with ``"input"``, the baseline's
      phases lie within ``π`` of them (and may leave ``(−π, π]``; the inverse is 2π-periodic).
    * DC (and Nyquist for even ``T``) of a real signal are real: their phase is 0 or π and encodes the
      sign. Along the path the inverse keeps only the real part there (as ``irfft`` does).
    * Coefficient baselines, ``cdig.explain(..., baselines={"magphase": z0})`` with real ``z0`` of
      shape ``(N, C, 2, F)`` (or broadcastable), are used as given: negative magnitudes mean a phase
      of ``φ + π`` and phases are not re-wrapped, so a phase difference above π makes the path wind.
    * The phase of a bin has no gradient where its magnitude is zero along the path; the magnitude
      component takes the whole score there.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(2, 3, 16))
    >>> d = MagnitudePhase().fit(x)
    >>> z = d.forward(x, np)
    >>> z.shape
    (2, 3, 2, 9)
    >>> bool(np.allclose(d.inverse(z, np), x))
    True
    """

    name = "magphase"
    linear = False
    dims = ("channel", "component", "frequency")
    components = ("magnitude", "phase")

    def __init__(self, baseline_phase: str = "input") -> None:
        if baseline_phase not in PHASE_CONVENTIONS:
            raise CdigValueError(
                f"baseline_phase={baseline_phase!r}: accepted values are 'input' (the baseline's phases are "
                "taken within π of the input's; undefined ones are the input's) or 'own' (each signal's "
                "principal phase)"
            )
        self.baseline_phase = baseline_phase
        self.n_times_: int | None = None
        self.phase_ref_: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> "MagnitudePhase":
        x = np.asarray(x)
        self.n_times_ = int(x.shape[-1])
        own = self.baseline_phase == "own"
        self.phase_ref_ = None if own else np.angle(np.fft.rfft(x.astype(np.float64), axis=-1))
        return self

    def forward(self, x: Any, xp: Any) -> Any:
        spec = xp.fft.rfft(x, axis=-1)
        re, im = xp.real(spec), xp.imag(spec)
        mag = xp.abs(spec)
        ref = self.phase_ref_
        # "+ 0.0" turns a real part of -0.0 into +0.0: atan2(±0, -0) would be ±π, not 0, for a zero bin
        if ref is not None and tuple(x.shape[:-1]) == ref.shape[:-1] and int(x.shape[-1]) == self.n_times_:
            # angle(X · e^{-iφ_ref}) is in (−π, π]: the baseline's phase nearest to the input's
            u, v = self.constant(np.cos(ref), re, xp), self.constant(np.sin(ref), re, xp)
            phase = self.constant(ref, re, xp) + xp.atan2(im * u - re * v, re * u + im * v + 0.0)
        else:
            phase = xp.atan2(im, re + 0.0)
        return xp.stack([mag, phase], axis=-2)

    def inverse(self, z: Any, xp: Any) -> Any:
        mag, phase = z[..., 0, :], z[..., 1, :]
        spec = complex_from_parts(mag * xp.cos(phase), mag * xp.sin(phase), xp)
        n = self.n_times_ if self.n_times_ is not None else 2 * (int(z.shape[-1]) - 1)
        return xp.fft.irfft(spec, n=n, axis=-1)

    def reduce(self, values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...] | None, dict[str, np.ndarray]]:
        return values, None, {"totals": values.sum(axis=-1)}

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        n = self.n_times_ if self.n_times_ is not None else 2 * (shape[-1] - 1)
        coords = {"channel": np.arange(shape[0]), "component": np.array(self.components)}
        if fs is None:
            return {**coords, "frequency": np.fft.rfftfreq(n)}, {"frequency": "cycles/sample"}
        return {**coords, "frequency": np.fft.rfftfreq(n, d=1.0 / fs)}, {"frequency": "Hz"}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "baseline_phase": self.baseline_phase}

    def __repr__(self) -> str:
        return f"MagnitudePhase(baseline_phase={self.baseline_phase!r})"
