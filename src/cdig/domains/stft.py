"""The time–frequency domain: a short-time Fourier transform with an exact least-squares inverse."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.checks import check_bool, check_choice
from ..core.errors import CdigTypeError, CdigValueError
from .base import Domain

__all__ = ["STFT"]

#: The synthesis is refused when the frames' Gram matrix is this ill-conditioned (NOLA fails).
_MAX_CONDITION = 1e10


class STFT(Domain, register=True):
    """Short-time Fourier transform: one score per (channel, frequency, frame).

    Frame ``j`` is ``window * p[j*hop : j*hop + n_fft]`` of the (optionally padded) signal ``p``; its
    coefficients are ``rfft`` of the frame (no scaling, like ``torch.stft``), laid out
    ``(N, C, n_fft//2 + 1, frames)``. With ``F`` the framing map (padding, framing and windowing: the
    ``(n_fft · frames) × T`` matrix taking the samples to the windowed frames, ``z = rfft(F x)``), the
    inverse is the least-squares synthesis ``x = (FᵀF)⁻¹ Fᵀ · irfft(z)``, the left inverse of ``F``
    that is its pseudo-inverse (weighted overlap-add divided by ``Σ window²`` when the padding is
    zeros, as in ``scipy.signal.istft``), so ``inverse(forward(x))`` is ``x`` exactly. That needs only
    the NOLA condition (every sample gets window weight from some frame: ``FᵀF`` invertible), not
    COLA. Each coefficient reads one padded sample, so ``FᵀF`` is diagonal (reflect padding included),
    each sample's window energy: the synthesis is a gather-based overlap-add (``Fᵀ``), the fold of the
    padding onto the samples it copies and a division by that energy. Both maps are gathers with index
    arrays precomputed by :meth:`fit` and ``rfft``/``irfft``, so they run (and differentiate) on every
    backend in ``O(T · n_fft / hop_length)`` memory and log-linear time.

    Each bin's score adds the scores of its real and imaginary parts; the map sums to
    ``f(x) - f(baseline)`` and shares the time-domain pass (no extra model calls).

    Parameters
    ----------
    n_fft : int
        Frame length in samples (``1 <= n_fft <= T``).
    hop_length : int, optional
        Samples between frame starts (``1 <= hop_length <= n_fft``); default ``n_fft // 4``.
    window : str, tuple or array
        A window name understood by ``scipy.signal.get_window`` (periodic), e.g. ``"hann"``,
        ``("tukey", 0.5)``, or ``n_fft`` finite values; default ``"hann"``.
    center : bool
        Pad ``n_fft // 2`` samples on both sides so that frame ``j`` is centred on sample ``j*hop``
        (default True). In any case the end is zero-padded so the last samples fall in a frame.
    pad_mode : {"constant", "reflect"}
        Padding of ``center``: zeros (as ``scipy.signal.stft``'s ``boundary="zeros"``) or the
        signal's mirror image (as ``torch.stft``'s default).

    Notes
    -----
    Coordinates: ``frequency`` is ``k·fs/n_fft`` Hz (cycles/sample without ``fs``) and ``time`` the
    frame centres, ``j·hop + n_fft//2 - pad`` samples (seconds with ``fs``).

    Examples
    --------
    >>> import numpy as np
    >>> d = STFT(16, hop_length=4).fit(np.zeros((1, 1, 64)))
    >>> d.n_frames_, d.n_freqs_
    (17, 9)
    >>> x = np.random.default_rng(0).normal(size=(2, 3, 64))
    >>> bool(np.allclose(d.inverse(d.forward(x, np), np), x, atol=1e-12))
    True
    >>> coords, units = d.coords((3, 9, 17), fs=32.0)
    >>> coords["time"][:3].tolist(), units["time"], units["frequency"]
    ([0.0, 0.125, 0.25], 's', 'Hz')
    """

    name = "stft"
    linear = True
    dims = ("channel", "frequency", "time")
    coord_units = {"frequency": ("Hz", "cycles/sample"), "time": ("s", "sample")}
    plot = "plot_stft"
    order = 105

    def __init__(
        self, n_fft: int, hop_length: int | None = None, window: Any = "hann", center: bool = True, pad_mode: str = "constant"
    ) -> None:
        if isinstance(n_fft, bool) or not isinstance(n_fft, (int, np.integer)) or n_fft < 1:
            raise CdigValueError(f"n_fft={n_fft!r}: the frame length must be a positive integer (samples)")
        self.n_fft = int(n_fft)
        if hop_length is None:
            hop_length = max(1, self.n_fft // 4)
        if isinstance(hop_length, bool) or not isinstance(hop_length, (int, np.integer)) or hop_length < 1:
            raise CdigValueError(f"hop_length={hop_length!r}: the hop must be a positive integer (samples), or None")
        if hop_length > self.n_fft:
            raise CdigValueError(
                f"hop_length={hop_length} > n_fft={self.n_fft}: frames would leave gaps, and samples outside "
                "every frame cannot be reconstructed; use hop_length <= n_fft"
            )
        self.hop_length = int(hop_length)
        self.center = check_bool(center, "center")
        check_choice(pad_mode, "pad_mode", ("constant", "reflect"))  # 'constant': zeros
        self.pad_mode = pad_mode
        self.window = window
        self.window_ = self._window_values(window, self.n_fft)
        self.n_times_: int | None = None

    # --- set-up --------------------------------------------------------------------------
    @staticmethod
    def _window_values(window: Any, n_fft: int) -> np.ndarray:
        if isinstance(window, (str, tuple)):
            from scipy.signal import get_window

            try:
                w = get_window(window, n_fft, fftbins=True)
            except (ValueError, TypeError) as e:
                raise CdigValueError(
                    f"window={window!r} is not a window scipy.signal.get_window knows ({e}); give a name such "
                    "as 'hann', 'hamming', 'blackman', ('tukey', 0.5), or an array of n_fft values"
                ) from None
            return np.asarray(w, dtype=np.float64)
        try:
            w = np.asarray(window, dtype=np.float64)
        except (TypeError, ValueError):
            raise CdigTypeError(
                f"window must be a window name, a (name, parameter) tuple or an array; got {type(window).__name__}"
            ) from None
        if w.shape != (n_fft,):
            raise CdigValueError(f"window has shape {w.shape}; an array window needs n_fft={n_fft} values")
        if not np.all(np.isfinite(w)) or not np.any(w):
            raise CdigValueError("window must be finite and not all zero")
        return w

    def fit(self, x: np.ndarray) -> "STFT":
        t = int(x.shape[-1])
        if t == self.n_times_:
            return self
        if self.n_fft > t:
            raise CdigValueError(
                f"the signal has {t} time steps, fewer than n_fft={self.n_fft}: the window does not fit; use n_fft <= {t}"
            )
        n_fft, hop, window = self.n_fft, self.hop_length, self.window_
        pad = n_fft // 2 if self.center else 0
        length = t + 2 * pad
        extra = (-(length - n_fft)) % hop  # zeros at the end: the last samples get a frame
        n_frames = (length + extra - n_fft) // hop + 1
        # rows[i]: the input sample that padded sample i copies, -1 for a zero
        rows = np.full(length + extra, -1, dtype=np.int64)
        rows[pad : pad + t] = np.arange(t)
        if pad and self.pad_mode == "reflect":
            rows[:pad] = np.arange(pad, 0, -1)
            rows[pad + t : pad + t + pad] = np.arange(t - 2, t - 2 - pad, -1)
        # analysis: coefficient (k, j) of the frames, flattened k*frames + j (the layout rfft reads along
        # axis -2), is window[k] * x[rows[j*hop + k]]: one gather and a product
        src = rows[np.arange(n_fft)[:, None] + hop * np.arange(n_frames)[None, :]].reshape(-1)
        # synthesis: the framing map F is a weighted selection of padded samples, so its adjoint Fᵀ is the
        # weighted overlap-add followed by the fold of the padding onto the samples it copies, and its
        # Gram matrix FᵀF is diagonal (each coefficient reads one sample, even with reflect padding):
        # S = (FᵀF)⁻¹Fᵀ is that adjoint divided by each sample's window energy. Padded sample i is
        # offset i%hop + r*hop of frame i//hop - r, r < ceil(n_fft / hop).
        used = np.nonzero(rows >= 0)[0]  # padded samples that copy an input sample
        n_cover = -(-n_fft // hop)
        r = np.arange(n_cover)[:, None]
        j = used[None, :] // hop - r
        k = used[None, :] % hop + r * hop
        ok = (j >= 0) & (j < n_frames) & (k < n_fft)
        wk = np.where(ok, window[np.minimum(k, n_fft - 1)], 0.0)
        energy = np.bincount(rows[used], weights=(wk**2).sum(0), minlength=t)  # diag(FᵀF)
        if energy.min() <= 1e-12 * energy.max():
            bad = np.nonzero(energy <= 1e-12 * energy.max())[0]
            raise CdigValueError(
                f"the STFT cannot be inverted (NOLA fails): sample(s) {bad[:10].tolist()} get no window "
                f"weight from any frame with n_fft={self.n_fft}, hop_length={self.hop_length} and this window "
                "(e.g. a Hann window is zero at its ends, so hop_length=n_fft misses samples); use a smaller "
                "hop_length, center=True (without padding the first sample only meets the window's first value) "
                "or a window without zeros"
            )
        cond = energy.max() / energy.min()  # the condition number of the diagonal Gram matrix FᵀF
        if not cond < _MAX_CONDITION:
            raise CdigValueError(
                f"the STFT cannot be inverted stably: its frames' Gram matrix has condition number {cond:.3g} "
                f"(n_fft={self.n_fft}, hop_length={self.hop_length}); use a smaller hop_length or another window"
            )
        # nothing is stored before the checks: a refused length leaves an earlier fit intact
        self.frame_index_ = np.maximum(src, 0)
        self.frame_weight_ = np.where(src >= 0, np.repeat(window, n_frames), 0.0)
        self.ola_index_ = np.where(ok, k * n_frames + j, 0).reshape(-1)  # (n_cover, used) flattened
        self.ola_weight_ = wk
        # the fold: input sample s collects the padded samples that copy it (itself and, with
        # reflect padding, its mirror images near the ends), at positions of ``used``
        order = np.argsort(rows[used], kind="stable")
        owner = rows[used][order]
        first = np.searchsorted(owner, np.arange(t))
        n_copies = np.bincount(owner, minlength=t)
        m = np.arange(n_copies.max())[:, None]
        has = m < n_copies[None, :]
        self.fold_index_ = np.where(has, order[np.minimum(first[None, :] + m, len(order) - 1)], 0).reshape(-1)
        self.fold_weight_ = np.where(has, 1.0 / energy[None, :], 0.0)
        self.pad_ = pad
        self.n_frames_ = int(n_frames)
        self.n_freqs_ = self.n_fft // 2 + 1
        self.n_times_ = t
        return self

    def _gather_sum(self, a: Any, index: np.ndarray, weight: np.ndarray, xp: Any) -> Any:
        """``Σ_m weight[m, s] · a[..., index[m, s]]``: a weighted sum of ``len(weight)`` gathers."""
        picked = xp.take(a, self.index(index, a, xp), axis=-1)
        picked = xp.reshape(picked, tuple(a.shape[:-1]) + weight.shape)
        return xp.sum(picked * self.constant(weight, a, xp), axis=-2)

    # --- the transform -------------------------------------------------------------------
    def forward(self, x: Any, xp: Any) -> Any:
        self.fitted_length(x)
        frames = xp.take(x, self.index(self.frame_index_, x, xp), axis=-1)
        frames = frames * self.constant(self.frame_weight_, x, xp)
        frames = xp.reshape(frames, tuple(frames.shape[:-1]) + (self.n_fft, self.n_frames_))
        return xp.fft.rfft(frames, axis=-2)

    def inverse(self, z: Any, xp: Any) -> Any:
        self.fitted_length()
        frames = xp.fft.irfft(z, n=self.n_fft, axis=-2)
        frames = xp.reshape(frames, tuple(frames.shape[:-2]) + (self.n_fft * self.n_frames_,))
        padded = self._gather_sum(frames, self.ola_index_, self.ola_weight_, xp)  # weighted overlap-add
        return self._gather_sum(padded, self.fold_index_, self.fold_weight_, xp)  # fold, ÷ window energy

    # --- reporting -----------------------------------------------------------------------
    def frame_centres(self) -> np.ndarray:
        """Centre of each frame, in samples of the input (frame j: j·hop + n_fft//2 - pad)."""
        self.fitted_length()
        return np.arange(self.n_frames_) * self.hop_length + self.n_fft // 2 - self.pad_

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        centres = self.frame_centres().astype(float)
        chan = np.arange(shape[0])
        if fs is None:
            return (
                {"channel": chan, "frequency": np.fft.rfftfreq(self.n_fft), "time": centres},
                {"frequency": "cycles/sample", "time": "sample"},
            )
        return (
            {"channel": chan, "frequency": np.fft.rfftfreq(self.n_fft, d=1.0 / fs), "time": centres / fs},
            {"frequency": "Hz", "time": "s"},
        )

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        window: str | list[Any] = self.window if isinstance(self.window, str) else "array"
        if isinstance(self.window, tuple):
            window = list(self.window)
        d.update(window=window, n_frames=self.n_frames_ if self.n_times_ is not None else None)
        return d
