"""Long recordings: cut a recording of hours into windows, explain them, stitch the maps back.

:func:`windows` wraps a recording ``(C, T)`` (an array, a memmap, or any array-like that slices,
such as a Zarr or h5py array) as a :class:`Windows` object: a lazily cut sequence of windows
``(C, length)`` that :func:`cdig.explain_dataset` reads chunk by chunk and :func:`cdig.explain`
takes a slice of. Nothing is copied but the windows asked for. :meth:`Windows.stitch` puts the
maps of the windows back onto the recording's time axis: time-domain maps ``(n, C, length)``
become ``(C, T)``, STFT maps ``(n, C, F, frames)`` become ``(C, F, frames of the recording)``.

Overlap: windows overlap when ``hop < length``. ``how="mean"`` divides the overlap-added maps by the
number of windows covering each sample (or frame): the score of a sample is the average of the
scores the windows that saw it gave it. ``how="sum"`` keeps the overlap-add: every window's
completeness survives, so the stitched map sums to ``Σ_w f(x_w) − f(baseline_w)`` (plus the
windows' ``delta``) — with tiling windows (``hop == length``) the two are the same map. Samples no
window covers (gaps with ``hop > length``, the tail with ``tail="drop"``) are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.attribution import Attribution
from ..core.checks import check_bool, check_choice
from ..core.errors import CdigTypeError, CdigValueError

__all__ = ["windows", "Windows", "Stitched", "TAILS", "STITCHABLE"]

#: What happens to the samples after the last full window on the hop grid.
TAILS = ("end", "pad", "drop")
#: Domains whose per-window maps live on the recording's time axis.
STITCHABLE = ("time", "stft")


@dataclass
class Stitched:
    """A map of windows put back onto the time axis of the recording (see :meth:`Windows.stitch`).

    Attributes
    ----------
    values : ndarray
        ``(C, T)`` for time-domain maps, ``(C, F, G)`` for STFT maps on the recording's frame grid;
        NaN where no window contributes.
    time : ndarray
        ``(T,)`` sample times, or ``(G,)`` frame centres; seconds when ``fs`` is known, else samples.
    coverage : ndarray of int
        How many windows contribute to each sample ``(T,)`` or frame ``(G,)``.
    domain : str
        ``"time"`` or ``"stft"``.
    how : str
        ``"mean"`` or ``"sum"``.
    dims : tuple of str
        Names of the axes of ``values``.
    units : dict of str to str
        Units of ``time`` (``"s"`` or ``"sample"``) and ``frequency``.
    frequency : ndarray or None
        ``(F,)`` frequencies of the STFT bins; None for time-domain maps.
    """

    values: np.ndarray
    time: np.ndarray
    coverage: np.ndarray
    domain: str
    how: str
    dims: tuple[str, ...]
    units: dict[str, str] = field(default_factory=dict)
    frequency: np.ndarray | None = None

    def __repr__(self) -> str:
        shape = "×".join(map(str, self.values.shape))
        return f"Stitched(domain={self.domain!r}, how={self.how!r}, values={shape} {self.dims})"


def _positive_int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise CdigValueError(f"{name}={v!r}: expected a positive integer number of samples")
    return int(v)


class Windows:
    """Windows of a long recording, cut lazily (made by :func:`windows`; see there).

    Attributes
    ----------
    signal : array-like
        The recording as given (never copied).
    starts : ndarray of int64
        First sample of each window in the recording.
    length, hop : int
        Window length and hop, in samples.
    fs : float or None
        Sampling rate (Hz).
    n_samples, n_channels : int
        ``T`` and ``C`` of the recording.
    tail : str
        ``"end"``, ``"pad"`` or ``"drop"`` (see :func:`windows`).
    channels_first : bool
        Layout of the recording and of the windows handed out: ``(C, T)``/``(n, C, length)`` or
        ``(T, C)``/``(n, length, C)``.
    """

    def __init__(
        self, signal: Any, length: int, hop: int, *, fs: float | None = None, channels_first: bool = True, tail: str = "end"
    ) -> None:
        if not hasattr(signal, "shape") or not hasattr(signal, "__getitem__"):
            try:
                signal = np.asarray(signal)
            except Exception:  # noqa: BLE001 - anything numpy cannot read is refused below
                raise CdigTypeError(f"signal must be an array (T,) or (C, T), got {type(signal).__name__}") from None
        shape = tuple(int(s) for s in signal.shape)
        if len(shape) not in (1, 2):
            raise CdigValueError(
                f"signal has shape {shape}; expected one recording (T,) or (C, T) ((T, C) with channels_first=False)"
            )
        try:  # a tiny read tells the dtype of any array-like (numpy, memmap, Zarr, h5py, a CPU tensor)
            dtype = np.asarray(signal[:1] if len(shape) == 1 else signal[:1, :1]).dtype
        except Exception:  # noqa: BLE001 - an object that does not slice like an array
            raise CdigTypeError(
                f"signal must be an array (T,) or (C, T) that slices like numpy; {type(signal).__name__} does not"
            ) from None
        if dtype.kind not in "fiu":
            raise CdigTypeError(f"signal has dtype {dtype}; expected real numbers")
        check_bool(channels_first, "channels_first")
        check_choice(tail, "tail", TAILS)
        if fs is not None:
            try:
                fs = float(fs)
            except (TypeError, ValueError):
                raise CdigTypeError(f"fs must be a number (Hz) or None, got {fs!r}") from None
            if not np.isfinite(fs) or fs <= 0:
                raise CdigValueError(f"fs={fs!r}: the sampling rate must be a positive number of Hz")
        self.signal = signal
        self.channels_first = bool(channels_first)
        self._flat = len(shape) == 1
        self.n_samples = shape[0] if self._flat else shape[1 if self.channels_first else 0]
        self.n_channels = 1 if self._flat else shape[0 if self.channels_first else 1]
        self.length = _positive_int("length", length)
        self.hop = _positive_int("hop", hop)
        if self.length > self.n_samples:
            raise CdigValueError(
                f"length={self.length} is longer than the recording ({self.n_samples} samples); use length <= {self.n_samples}"
            )
        self.fs = fs
        self.tail = tail
        t, n = self.n_samples, self.length
        starts = np.arange(0, t - n + 1, self.hop, dtype=np.int64)
        last_end = int(starts[-1]) + n
        if last_end < t:
            if tail == "end":
                starts = np.append(starts, t - n)
            elif tail == "pad" and int(starts[-1]) + self.hop < t:
                starts = np.append(starts, int(starts[-1]) + self.hop)
        self.starts = starts
        self.dtype = dtype

    # --- the sequence of windows -----------------------------------------------------------
    def __len__(self) -> int:
        return len(self.starts)

    def _cut(self, s: int) -> np.ndarray:
        """Window starting at ``s`` as ``(C, length)``, zeros after the recording's end."""
        e = min(s + self.length, self.n_samples)
        if self._flat:
            part = np.asarray(self.signal[s:e])[None]
        elif self.channels_first:
            part = np.asarray(self.signal[:, s:e])
        else:
            part = np.asarray(self.signal[s:e, :]).T
        if e - s < self.length:
            part = np.concatenate([part, np.zeros((self.n_channels, self.length - (e - s)), part.dtype)], axis=1)
        return part

    def __getitem__(self, key: Any) -> np.ndarray:
        """One window ``(C, length)``; a slice or a list of indices ``(n, C, length)``, copied.

        With ``channels_first=False`` the axes are ``(length, C)`` and ``(n, length, C)``.
        """
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise IndexError(f"window {i} out of range: there are {len(self)} windows")
            w = self._cut(int(self.starts[i]))
            return np.array(w if self.channels_first else w.T, order="C")  # a copy: never a view of the recording
        if isinstance(key, slice):
            idx = range(len(self))[key]
        else:
            try:
                idx = np.arange(len(self))[np.asarray(key)]
            except (IndexError, ValueError, TypeError):
                raise CdigTypeError(f"windows are indexed by an int, a slice or a list of ints, got {key!r}") from None
            if idx.ndim != 1:
                raise CdigTypeError(f"windows are indexed by an int, a slice or a list of ints, got {key!r}")
        out = np.empty((len(idx), self.n_channels, self.length), dtype=self.dtype)
        for j, i in enumerate(idx):
            out[j] = self._cut(int(self.starts[i]))
        return out if self.channels_first else np.ascontiguousarray(out.transpose(0, 2, 1))

    @property
    def times(self) -> np.ndarray:
        """Start of each window: seconds when ``fs`` is known, else samples."""
        return self.starts / self.fs if self.fs else self.starts.astype(float)

    def __repr__(self) -> str:
        return (
            f"Windows({len(self)} windows of {self.length} samples, hop={self.hop}, "
            f"recording {self.n_channels}×{self.n_samples}, tail={self.tail!r})"
        )

    # --- putting maps back on the recording ----------------------------------------------
    def stitch(self, att: Attribution, how: str = "mean", rows: Any = None) -> Stitched:
        """Put the maps of the windows back onto the recording's time axis.

        Parameters
        ----------
        att : Attribution
            Maps of the windows, from :func:`cdig.explain` on ``self[...]`` or
            ``ExplainedDataset.attribution(...)``; ``"time"`` ``(n, C, length)`` or ``"stft"``
            ``(n, C, F, frames)`` (other domains do not live on the time axis).
        how : {"mean", "sum"}
            ``"mean"``: overlap-add divided by the number of windows covering each sample (frame);
            ``"sum"``: the overlap-add itself, which keeps completeness: its total is the sum of the
            windows' totals, ``Σ_w f(x_w) − f(baseline_w) + delta_w``. With ``hop == length`` the two agree.
        rows : slice or array of int, optional
            Which windows ``att`` holds (default: all, in order), e.g. the ``rows`` given to
            ``ExplainedDataset.attribution``.

        Returns
        -------
        Stitched
            ``values`` ``(C, T)`` (time) or ``(C, F, G)`` (STFT, on the recording's frame grid
            ``g·hop_length + offset``), NaN where no window contributes, with ``time``,
            ``coverage`` and, for the STFT, ``frequency``.

        Raises
        ------
        CdigValueError
            Another domain; ``att`` not shaped like these windows' maps; STFT frames of a window
            that do not fall on the recording's frame grid (a window start that is not a multiple
            of the STFT's ``hop_length``).

        Examples
        --------
        >>> import numpy as np
        >>> w = windows(np.arange(10.0), length=4, hop=2)
        >>> w.starts.tolist()
        [0, 2, 4, 6]
        >>> ones = Attribution(np.ones((4, 1, 4)), "time", ("channel", "time"), {}, np.zeros(4),
        ...                    np.zeros(4), np.zeros(4), np.zeros(4))
        >>> w.stitch(ones, how="sum").values.tolist()
        [[1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0]]
        >>> w.stitch(ones).coverage.tolist()
        [1, 1, 2, 2, 2, 2, 2, 2, 1, 1]
        """
        if isinstance(att, dict):
            raise CdigTypeError(
                f"stitch takes one Attribution, got a dict of maps {sorted(att)}: pass one of them, e.g. maps['time']"
            )
        if not isinstance(att, Attribution):
            raise CdigTypeError(f"stitch takes an Attribution of the windows, got {type(att).__name__}")
        check_choice(how, "how", ("mean", "sum"))  # 'mean': average over overlapping windows
        if att.domain not in STITCHABLE:
            raise CdigValueError(
                f"cannot stitch a {att.domain!r} map: only maps that live on the windows' time axis can be put "
                f"back on the recording; supported domains: {list(STITCHABLE)} (explain the windows in 'time' or "
                "with cdig.STFT(...))"
            )
        idx = np.arange(len(self)) if rows is None else np.arange(len(self))[rows]
        starts = self.starts[np.atleast_1d(idx)]
        values = np.asarray(att.values)
        fs = self._fs(att)
        if att.domain == "time":
            return self._stitch_time(self._values(values, starts, (self.length,), "(n, C, length)"), starts, how, fs)
        return self._stitch_stft(att, values, starts, how, fs)

    def _fs(self, att: Attribution) -> float | None:
        other = att.settings.get("fs") if isinstance(att.settings, dict) else None
        if self.fs is not None and other is not None and not np.isclose(float(other), self.fs):
            raise CdigValueError(
                f"the windows have fs={self.fs} but the maps were made with fs={other}; give both the same sampling rate"
            )
        return self.fs if self.fs is not None else (float(other) if other is not None else None)

    def _values(self, values: np.ndarray, starts: np.ndarray, tail_shape: tuple[int, ...], layout: str) -> np.ndarray:
        """``values`` checked against the windows, channel axis restored when the map dropped it."""
        want = (len(starts), self.n_channels, *tail_shape)
        if values.ndim == len(want) - 1 and self.n_channels == 1:
            values = values[:, None]
        if values.shape != want:
            raise CdigValueError(
                f"the map has shape {values.shape}, but {len(starts)} windows of {self.n_channels} channel(s) × "
                f"{self.length} samples give {layout} = {want}: pass the Attribution of exactly these windows "
                "(or say which windows it holds with rows=)"
            )
        return values

    def _stitch_time(self, values: np.ndarray, starts: np.ndarray, how: str, fs: float | None) -> Stitched:
        t, n = self.n_samples, self.length
        dtype = np.result_type(values.dtype, np.float32)
        out = np.zeros((self.n_channels, t), dtype=dtype)
        for v, s in zip(values, starts):
            e = min(int(s) + n, t)
            out[:, s:e] += v[:, : e - s]  # a padded tail window: what falls after the end is dropped
        edges = np.zeros(t + 1, dtype=np.int64)
        np.add.at(edges, starts, 1)
        np.add.at(edges, np.minimum(starts + n, t), -1)
        coverage = np.cumsum(edges[:-1])
        out = _finish(out, coverage, how)
        time = np.arange(t) / fs if fs else np.arange(t, dtype=float)
        return Stitched(out, time, coverage, "time", how, ("channel", "time"), {"time": "s" if fs else "sample"})

    def _stitch_stft(self, att: Attribution, values: np.ndarray, starts: np.ndarray, how: str, fs: float | None) -> Stitched:
        hop, offset = _stft_grid(att, fs)
        if values.ndim < 3:
            raise CdigValueError(f"an STFT map has shape (n, C, F, frames); got {values.shape}")
        n_freq, n_frames = values.shape[-2], values.shape[-1]
        values = self._values(values, starts, (n_freq, n_frames), "(n, C, F, frames)")
        off = starts % hop
        if off.any() and self.hop % hop:
            raise CdigValueError(
                f"the windows' hop ({self.hop} samples) is not a multiple of the STFT's hop_length ({hop}): the "
                "frames of different windows would not fall on one frame grid; use a window hop that is a multiple "
                f"of {hop}"
            )
        if off.any():
            bad = int(starts[np.flatnonzero(off)[0]])
            raise CdigValueError(
                f"a window starts at sample {bad}, not a multiple of the STFT's hop_length ({hop}) (with "
                f"tail='end' the last window is aligned to the recording's end): its frames fall between the "
                "recording's frames; use cdig.windows(..., tail='pad') or tail='drop', or leave that window out "
                "with rows="
            )
        grid = int(self.starts.max()) // hop + n_frames
        dtype = np.result_type(values.dtype, np.float32)
        out = np.zeros((self.n_channels, n_freq, grid), dtype=dtype)
        coverage = np.zeros(grid, dtype=np.int64)
        for v, s in zip(values, starts):
            g = int(s) // hop
            out[..., g : g + n_frames] += v
            coverage[g : g + n_frames] += 1
        out = _finish(out, coverage, how)
        centres = np.arange(grid) * hop + offset
        time = centres / fs if fs else centres.astype(float)
        freq = att.coords.get("frequency")
        if freq is None or len(freq) != n_freq:
            freq = np.fft.rfftfreq(2 * (n_freq - 1), d=1.0 / fs if fs else 1.0)
        units = {"time": "s" if fs else "sample", "frequency": "Hz" if fs else "cycles/sample"}
        return Stitched(out, time, coverage, "stft", how, ("channel", "frequency", "time"), units, np.asarray(freq))


def _finish(out: np.ndarray, coverage: np.ndarray, how: str) -> np.ndarray:
    """Divide by the coverage (``mean``) and mark what no window covers as NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if how == "mean":
            out /= np.maximum(coverage, 1)
    out[..., coverage == 0] = np.nan
    return out


def _stft_grid(att: Attribution, fs: float | None) -> tuple[int, float]:
    """``(hop_length, centre of frame 0)`` in samples of a window, from the settings or the frame times."""
    dom = att.settings.get("domain") if isinstance(att.settings, dict) else None
    if isinstance(dom, dict) and dom.get("hop_length") is not None and dom.get("n_fft") is not None:
        n_fft = int(dom["n_fft"])
        return int(dom["hop_length"]), float(n_fft // 2 - (n_fft // 2 if dom.get("center", True) else 0))
    t = att.coords.get("time")
    if t is None or len(t) < 2:
        raise CdigValueError(
            "cannot tell the STFT's hop_length: the Attribution has neither settings['domain'] "
            "with hop_length nor frame times in coords['time']"
        )
    t = np.asarray(t, dtype=float)
    if att.units.get("time") == "s":
        if not fs:
            raise CdigValueError("the STFT's frame times are in seconds but no fs is known: pass fs= to windows()")
        t = t * fs
    hop = float(np.median(np.diff(t)))
    if not np.allclose(np.diff(t), hop, atol=1e-6 * max(1.0, hop)) or abs(hop - round(hop)) > 1e-6 or hop < 0.5:
        raise CdigValueError(
            "the STFT's frame times in coords['time'] are not evenly spaced by a whole number of "
            "samples; cannot put its frames on the recording's grid"
        )
    return int(round(hop)), float(t[0])


def windows(
    signal: Any, length: int, hop: int, *, fs: float | None = None, channels_first: bool = True, tail: str = "end"
) -> Windows:
    """Cut a long recording into windows to explain, lazily; stitch their maps back with :meth:`Windows.stitch`.

    Parameters
    ----------
    signal : array-like, shape (T,) or (C, T)
        The recording: a numpy array, a ``np.memmap`` of a file of hours, or any array-like that
        slices (Zarr, h5py). It is never copied: each window is read when asked for.
    length : int
        Samples per window (``<= T``), the model's input length.
    hop : int
        Samples between window starts: ``hop < length`` overlaps, ``hop == length`` tiles,
        ``hop > length`` leaves gaps.
    fs : float, optional
        Sampling rate in Hz: the stitched maps' times are then in seconds.
    channels_first : bool
        ``signal`` is ``(C, T)`` and the windows ``(C, length)`` (default); False: ``(T, C)`` and
        ``(length, C)`` (channels-last models). Maps, and so the stitched maps, are ``(C, ...)`` either way.
    tail : {"end", "pad", "drop"}
        The samples after the last window on the hop grid, when ``(T - length) % hop != 0``:
        ``"end"`` (default) adds one window aligned to the recording's end (start ``T - length``), so
        every sample is explained with real data only (this window is off the hop grid: STFT maps then
        need ``"pad"`` or ``"drop"``); ``"pad"`` adds the next window on the grid, zeros after the end;
        ``"drop"`` leaves those samples out (NaN when stitched).

    Returns
    -------
    Windows
        ``len(w)`` windows; ``w[i]`` is ``(C, length)``, ``w[a:b]`` a ``(b-a, C, length)`` copy of just
        those windows; ``w.starts`` their first samples. Pass ``w`` itself to
        :func:`cdig.explain_dataset`, or ``w[a:b]`` to :func:`cdig.explain`.

    Raises
    ------
    CdigValueError
        ``length`` or ``hop`` not a positive integer, ``length > T``, ``signal`` not 1-D or 2-D,
        an unknown ``tail``.

    Examples
    --------
    >>> import numpy as np
    >>> sig = np.arange(20.0).reshape(2, 10)              # 2 channels, 10 samples
    >>> w = windows(sig, length=4, hop=3)
    >>> len(w), w.starts.tolist(), w[1].tolist()
    (3, [0, 3, 6], [[3.0, 4.0, 5.0, 6.0], [13.0, 14.0, 15.0, 16.0]])
    >>> windows(sig, length=4, hop=4).starts.tolist()     # the tail: one window aligned to the end
    [0, 4, 6]
    >>> windows(sig, length=4, hop=4, tail="pad")[2].tolist()
    [[8.0, 9.0, 0.0, 0.0], [18.0, 19.0, 0.0, 0.0]]
    >>> w[0:2].shape
    (2, 2, 4)
    """
    return Windows(signal, length, hop, fs=fs, channels_first=channels_first, tail=tail)
