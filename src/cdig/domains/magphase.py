"""Magnitude and phase of the real FFT as separate real coordinates: amplitude or timing?"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.checks import check_real
from ..core.errors import CdigValueError
from .base import Domain

__all__ = ["MagnitudePhase"]

#: Accepted values of ``baseline_phase``.
PHASE_CONVENTIONS = ("input", "own")

#: Default ``zero_tol`` by the precision the signals are given in: a bin whose magnitude is at most
#: ``zero_tol · Σ_t |x_t|`` is zero. Measured (T = 16 … 16384): the DC bin of standardised noise and the
#: FFT error of any bin stay below ``1.5 · eps · Σ_t |x_t|``, i.e. 1.7e-16 (float64) and 1.5e-7
#: (float32) of that sum. 1e-10 is ~6e5 times float64 round-off, 1e-5 ~70 times float32's.
ZERO_TOL = {"float64": 1e-10, "float32": 1e-5}

#: A component of a bin within ``ROUNDOFF · eps · scale`` of zero is round-off (``scale`` below).
ROUNDOFF = 32.0


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


def precision(dtype: Any) -> str:
    """``"float64"`` for 8-byte (or wider) dtypes of any framework, else ``"float32"``.

    numpy, JAX and PyTorch dtypes have ``itemsize``, TensorFlow's ``size``.
    """
    if isinstance(dtype, type) and issubclass(dtype, np.generic):  # np.float32, ...
        dtype = np.dtype(dtype)
    size = getattr(dtype, "itemsize", None)
    if size is None:
        size = getattr(dtype, "size", None)
    return "float64" if size is not None and int(size) >= 8 else "float32"


def machine_eps(dtype: Any) -> float:
    """Machine epsilon of :func:`precision` of ``dtype``."""
    return float(np.finfo(precision(dtype)).eps)


def check_zero_tol(zero_tol: Any) -> float | None:
    """``zero_tol`` as a float in ``[0, 1)`` (or None: by precision), else a clear error."""
    # the magnitude below which a bin counts as zero, relative to the sum of the signal's absolute values
    return check_real(zero_tol, "zero_tol", min=0, max=1, include_max=False, allow_none=True)


def zero_threshold(zero_tol: float | None, dtype: Any) -> float:
    """The relative zero threshold in effect: ``zero_tol``, or :data:`ZERO_TOL` of ``dtype``'s precision."""
    return ZERO_TOL[precision(dtype)] if zero_tol is None else zero_tol


class MagnitudePhase(Domain, register=True):
    """rFFT magnitudes and phases ``(|X_k|, arg X_k)`` as two real coordinates per bin (nonlinear).

    The coefficients of a canonical batch ``(N, C, T)`` are stacked ``(N, C, 2, F)``, ``F = T//2 + 1``,
    with the component axis ``("magnitude", "phase")``; the inverse is
    ``x = irfft(m·cos φ + i·m·sin φ)``. cdig integrates along the straight path in ``(m, φ)``, so the
    two components of a bin split its score into "how strong" and "where in time". ``values`` keep
    the full map ``(N, C, 2, F)``; ``extras["totals"]`` holds the per-component sums ``(N, C, 2)``
    (``(N, 2)`` for ``(N, T)`` input).

    Parameters
    ----------
    baseline_phase : {"input", "own"}
        How the phases of signals other than the explained input (the baseline) are taken.

        * ``"input"`` (default): relative to the input's phase ``φ`` (stored by :meth:`fit`), as
          ``φ + angle(X0 · conj(e^{iφ}))``, so that ``|φ − φ0| ≤ π`` for every bin (the path never
          turns the long way round; ties at ``±π`` are broken as in Notes), and a bin where the
          baseline's magnitude is zero — its phase is undefined — takes the input's phase. With the
          default zero baseline the path only scales magnitudes: it is the time-domain straight
          path ``α·x``, ``Δφ = 0`` exactly, so the phase component scores exactly zero (0.0, not
          round-off) and the magnitude component scores ``f(x) − f(0)``.
        * ``"own"``: each signal's principal phase in ``(−π, π]`` (``atan2``; a zero-magnitude bin has
          phase 0). From a zero baseline the path then also rotates every phase from 0 to the input's,
          and the phase component measures how much the input's timing matters relative to a
          zero-phase (symmetric, time-centred at 0) signal of the same growing magnitudes.
    zero_tol : float or None
        A bin whose magnitude is at most ``zero_tol · Σ_t |s_t|`` (the sum over that sample and
        channel of the signal ``s``) counts as zero magnitude: its phase is undefined (see Notes).
        None (default): ``1e-10`` for float64 signals, ``1e-5`` for float32 (and narrower) ones; 0:
        only exact zeros. Raise it when the data went through a coarser precision than the one
        explained (e.g. standardised in float32, explained in float64).

    Notes
    -----
    *Phases.* Phases are principal values in ``(−π, π]`` (the input's own, and every signal's with
    ``"own"``), except that an angle within its tie margin of ``−π`` (below) is taken as ``+π``;
    with ``"input"``, the baseline's phases lie within ``π`` of the input's (up to that margin; they
    may leave ``(−π, π]``: the inverse is 2π-periodic).

    *DC and Nyquist* (even ``T``) of a real signal are real: their phase is 0 or π and encodes the
    sign. Along the path the inverse keeps only the real part there (as ``irfft`` does).

    *Zero bins.* The phase of a vanishing bin has no limit: as the bin passes through zero its phase
    jumps (by π at DC), so an input whose bin is zero up to round-off — the DC of a zero-mean,
    per-sample standardised signal — would have its path chosen by the sign of round-off. A bin with
    ``|S_k| ≤ τ·Σ_t |s_t|`` (``τ = zero_tol``, the sum over the signal's sample and channel, which
    bounds the round-off of every bin whatever ``T``) therefore counts as zero and has no phase: its
    phase coordinate is the reference phase (the input's with ``"input"``, 0 with ``"own"``) and
    its magnitude coordinate the bin's signed component along that phase. A bin where the *input*
    is zero has the reference phase 0, and there every signal is written with a phase in
    ``(−π/2, π/2]`` and a magnitude of either sign: a real bin (DC, Nyquist) keeps phase 0 and the
    path moves it in a straight line from the baseline's value to the input's (≈ 0); a complex one
    turns by at most π/2 towards phase 0 while it shrinks. (The input's coefficients are computed
    without the baseline, so its phase cannot follow the baseline's in general.) The input is
    reconstructed exactly at real zero bins and within ``τ·Σ_t |x_t|`` at complex ones; cdig
    integrates between the reconstructions and reports ``f`` there. The jump of the phase is not
    removed, it is moved from ``|X_k| = 0`` to ``|X_k| = τ·Σ_t |x_t|``, far above round-off: a
    change of the input by round-off, or by a constant ``±1e-12`` for a unit-variance float64
    input, changes the map by ~1e-12 of its largest score, no more.

    *Round-off and ties.* A component of a bin along or across the reference direction within
    round-off, ``32·eps·Σ_t |s_t|`` (``eps`` of the signal's precision), is an exact zero: a bin in
    phase with the input (the input's own, those of ``β·x`` for ``β > 0``) gets exactly the input's
    phase and a real bin exactly 0 or π. So with a baseline ``β·x`` (``β ≥ 0``, the zero baseline
    included) ``Δφ = 0`` exactly and the phase scores are exactly 0.0. The reconstructions change
    by round-off only. A bin in antiphase with the input (a sign flip, or a circular shift ``d``
    at the bins where ``2kd/T`` is odd) can turn either way by π: an angle within ``(τ + 32·eps) ·
    (Σ_t |s_t| / |S_k| + Σ_t |x_t| / |X_k|)`` of ``−π`` (what a change of either signal by that
    fraction of its ``Σ_t |s_t|`` can turn it by; at most π/2) is taken as ``+π``. This changes no
    reconstruction (the inverse is 2π-periodic) and makes ``|φ − φ0| ≤ π`` hold up to that margin.

    *Coefficient baselines*, ``cdig.explain(..., baselines={"magphase": z0})`` with real ``z0`` of
    shape ``(N, C, 2, F)`` (or broadcastable), are used as given: negative magnitudes mean a phase
    of ``φ + π`` and phases are not re-wrapped, so a phase difference above π makes the path wind.

    The phase of a bin has no gradient where its magnitude is zero along the path; the magnitude
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

    A zero-mean input: its DC bin is zero, whatever the sign of its round-off.

    >>> xc = x - x.mean(axis=-1, keepdims=True)
    >>> d = MagnitudePhase().fit(xc)
    >>> zc = d.forward(xc, np)
    >>> bool(np.all(zc[..., 1, 0] == 0.0)), bool(np.allclose(d.inverse(zc, np), xc))
    (True, True)
    """

    name = "magphase"
    linear = False
    dims = ("channel", "component", "frequency")
    coord_units = {"frequency": ("Hz", "cycles/sample")}
    plot = "plot_magphase"
    order = 50
    components = ("magnitude", "phase")

    def __init__(self, baseline_phase: str = "input", zero_tol: float | None = None) -> None:
        if baseline_phase not in PHASE_CONVENTIONS:
            raise CdigValueError(
                f"baseline_phase={baseline_phase!r}: accepted values are 'input' (the baseline's phases are "
                "taken within π of the input's; undefined ones are the input's) or 'own' (each signal's "
                "principal phase)"
            )
        self.baseline_phase = baseline_phase
        self.zero_tol = check_zero_tol(zero_tol)
        self.n_times_: int | None = None
        self.phase_ref_: np.ndarray | None = None
        self.ref_spread_: np.ndarray | None = None
        self.input_zero_: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> "MagnitudePhase":
        """Store the input's length and, with ``"input"``, its reference phases and zero bins.

        Computed in float64 from ``x``; the zero threshold and round-off follow ``x``'s precision.
        """
        x = np.asarray(x)
        self.n_times_ = int(x.shape[-1])
        if self.baseline_phase == "own":
            self.phase_ref_ = self.ref_spread_ = self.input_zero_ = None
            return self
        x64 = x.astype(np.float64)
        spec = np.fft.rfft(x64, axis=-1)
        mag = np.abs(spec)
        size = np.abs(x64).sum(axis=-1, keepdims=True)
        zero = mag <= zero_threshold(self.zero_tol, x.dtype) * size
        noise = ROUNDOFF * machine_eps(x.dtype) * size
        # the reference phase: the input's, exactly 0 or π where a component is round-off (real bins),
        # and 0 where the input has no magnitude
        re = np.where(np.abs(spec.real) <= noise, 0.0, spec.real)
        im = np.where(np.abs(spec.imag) <= noise, 0.0, spec.imag)
        self.phase_ref_ = np.where(zero, 0.0, np.arctan2(im, re))
        # Σ|x_t| / |X_k|: a change of x by a fraction w of Σ|x_t| turns φ_ref by at most w times this
        self.ref_spread_ = np.where(zero, 0.0, size / np.where(zero, 1.0, mag))
        self.input_zero_ = zero
        return self

    def forward(self, x: Any, xp: Any) -> Any:
        spec = xp.fft.rfft(x, axis=-1)
        re, im = xp.real(spec), xp.imag(spec)
        mag = xp.abs(spec)
        zeros = xp.zeros_like(mag)
        eps = machine_eps(x.dtype)
        size = xp.sum(xp.abs(x), axis=-1)[..., None]  # Σ_t |s_t|: bounds the round-off of every bin
        ref = self.phase_ref_
        if ref is not None and (tuple(x.shape[:-1]) != ref.shape[:-1] or int(x.shape[-1]) != self.n_times_):
            ref = None  # fitted to inputs of another shape: no reference phase
        input_zero = self.input_zero_ if ref is not None else None  # fit() sets both together
        if ref is not None:
            # components along and across the input's phase: angle(X · e^{-iφ_ref}) is in (−π, π]
            u, v = self.constant(np.cos(ref), re, xp), self.constant(np.sin(ref), re, xp)
            along, across = re * u + im * v, im * u - re * v
        else:
            along, across = re, im
        # a component within round-off is an exact zero (+0.0: atan2(+0, −a) is +π, never −π) ...
        noise = (ROUNDOFF * eps) * size
        along_c = xp.where(xp.abs(along) <= noise, zeros, along)
        across_c = xp.where(xp.abs(across) <= noise, zeros, across)
        delta = xp.atan2(across_c, along_c)
        # ... and an angle that a change of either signal by (zero_tol + round-off) · Σ|s_t| could carry
        # across −π is +π: a branch choice, which leaves the reconstruction unchanged
        tol = zero_threshold(self.zero_tol, x.dtype)
        spread = ((tol + ROUNDOFF * eps) * size) / xp.maximum(mag, noise + 1e-30)
        if ref is not None:
            spread = spread + (tol + ROUNDOFF * eps) * self.constant(self.ref_spread_, re, xp)
        spread = xp.where(spread > np.pi / 2, zeros + np.pi / 2, spread)
        delta = xp.where(delta <= spread - np.pi, delta + 2 * np.pi, delta)
        # zero bins have no phase: the reference's, and their signed component along it
        zero = mag <= tol * size
        delta = xp.where(zero, zeros, delta)
        m = xp.where(zero, along, mag)
        if input_zero is not None and bool(input_zero.any()):
            # where the input is zero: phases within π/2 of 0 and magnitudes of either sign
            at = self.constant(input_zero.astype(np.float64), re, xp) > 0.5
            flip = at & ((delta > np.pi / 2) | (delta <= -np.pi / 2))
            delta = xp.where(flip, delta - np.pi * xp.sign(delta), delta)
            m = xp.where(flip, -m, m)
        phase = self.constant(ref, re, xp) + delta if ref is not None else delta
        return xp.stack([m, phase], axis=-2)

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
