"""Independent components: ``x_t = A s_t + mean`` with the sources ``s`` as coefficients."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.errors import CdigTypeError, CdigValueError, ConvergenceWarning
from ._channels import ChannelMixing

__all__ = ["ICA"]

#: Fitted attributes of ``mne.preprocessing.ICA``; any of them (or ``get_sources``) marks an MNE ICA.
MNE_ATTRS = ("unmixing_matrix_", "mixing_matrix_", "pca_components_", "pca_mean_", "pre_whitener_", "n_components_")


def _is_mne_ica(obj: Any) -> bool:
    """Duck typing, so that mne is never imported: MNE's fitted attributes, or its ``get_sources``."""
    return any(hasattr(obj, a) for a in MNE_ATTRS) or (
        callable(getattr(obj, "get_sources", None)) and hasattr(obj, "n_pca_components")
    )


def _mne_matrices(obj: Any, n_channels: int, which: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unmixing W (K, C), mixing A (C, K), mean (C,)) of a fitted ``mne.preprocessing.ICA``.

    MNE computes sources as ``U P_K (G x - pca_mean)`` (``ICA._transform``), with ``G`` the
    pre-whitening: ``x / pre_whitener_`` (per channel (C, 1), or a scalar), or the matrix
    ``pre_whitener_ @ x`` when fitted with a noise covariance; active SSP projectors of the ICA's
    ``info`` come first (``ICA._do_proj``). Its back-projection with ``K`` PCA components
    (``apply(n_pca_components=K)``) is ``G⁻¹ (P_Kᵀ M s + pca_mean)``. So ``W = U P_K G``,
    ``A = G⁻¹ P_Kᵀ M`` and ``mean = G⁻¹ pca_mean``; ``W (x - mean)`` are MNE's sources because
    ``W G⁻¹ = U P_K`` (``G⁻¹`` is the pseudo-inverse where ``G`` is singular, e.g. with projectors).
    """
    missing = [a for a in MNE_ATTRS if not hasattr(obj, a)]
    if missing:
        raise CdigValueError(
            f"{which} ({type(obj).__name__}) looks like an MNE ICA but is not fitted: it lacks "
            f"{', '.join(missing)}; call ica.fit(raw_or_epochs) first"
        )
    k = int(obj.n_components_)
    pca = np.asarray(obj.pca_components_, dtype=np.float64)
    n_fit = pca.shape[1] if pca.ndim == 2 else -1
    names = list(getattr(obj, "ch_names", None) or [])
    if n_fit != n_channels:
        got = f" ({', '.join(map(str, names[:8]))}{', ...' if len(names) > 8 else ''})" if names else ""
        raise CdigValueError(
            f"{which} (MNE ICA) was fitted on {n_fit} channels{got} but the input has {n_channels}; give the "
            "input the ICA's channels in the order of ica.ch_names, e.g. raw.get_data(picks=ica.ch_names)"
        )
    pw = np.asarray(obj.pre_whitener_, dtype=np.float64)
    if pw.ndim == 2 and pw.shape == (n_channels, n_channels) and n_channels > 1:
        g = pw.copy()  # a noise-covariance whitener: pre_whitener_ @ x
    else:
        g = np.diag(1.0 / np.broadcast_to(pw.reshape(-1), (n_channels,)))
    if getattr(obj, "noise_cov", None) is None and hasattr(obj, "_do_proj"):
        g = g @ np.asarray(obj._do_proj(np.eye(n_channels)), dtype=np.float64)  # SSP projectors, if active
    g_inv = np.linalg.inv(g) if np.linalg.matrix_rank(g) == n_channels else np.linalg.pinv(g)
    pca_mean = getattr(obj, "pca_mean_", None)
    pca_mean = np.zeros(pca.shape[0]) if pca_mean is None else np.asarray(pca_mean, dtype=np.float64).reshape(-1)
    unmixing = np.asarray(obj.unmixing_matrix_, dtype=np.float64) @ pca[:k] @ g
    mixing = g_inv @ pca[:k].T @ np.asarray(obj.mixing_matrix_, dtype=np.float64)
    return unmixing, mixing, g_inv @ pca_mean


def _matrices(obj: Any, n_channels: int, which: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unmixing W (K, C), mixing A (C, K), mean (C,)) of one fitted FastICA-like or MNE ICA object."""
    if _is_mne_ica(obj):
        return _mne_matrices(obj, n_channels, which)
    missing = [a for a in ("mixing_", "mean_") if not hasattr(obj, a)]
    if missing:
        raise CdigValueError(
            f"{which} ({type(obj).__name__}) is not a fitted ICA: it lacks {', '.join(missing)}. Accepted: an "
            "object with sklearn FastICA's fitted interface (mixing_, mean_, transform), fitted with "
            "whitening so that mean_ exists; call .fit(...) first"
        )
    mixing = np.asarray(obj.mixing_, dtype=np.float64)
    mean = np.asarray(obj.mean_, dtype=np.float64).reshape(-1)
    if mixing.ndim != 2 or mixing.shape[0] != n_channels or mean.shape[0] != n_channels:
        raise CdigValueError(
            f"{which} was fitted on {mixing.shape[0] if mixing.ndim == 2 else '?'} channels but the input has "
            f"{n_channels}; fit the ICA on data with the input's channels (features = channels)"
        )
    comps = getattr(obj, "components_", None)
    if mixing.shape[0] == mixing.shape[1]:
        # A square mixing matrix: invert it in double precision so that the pair is an exact inverse
        # (a float32 fit's components_ inverts mixing_ only to ~1e-7).
        unmixing = np.linalg.inv(mixing)
    else:
        unmixing = np.asarray(comps, dtype=np.float64) if comps is not None else np.linalg.pinv(mixing)
    return unmixing, mixing, mean


def _fit_fastica(est: Any, pooled: np.ndarray) -> dict[str, Any]:
    """Fit ``est`` (an sklearn ``FastICA``) and say whether it converged: ``{"n_iter", "max_iter", "converged"}``.

    sklearn stops at ``max_iter`` with its own ``ConvergenceWarning``; that warning is caught here (cdig
    issues one of its own instead) and decides ``converged``. Its other warnings pass through.
    """
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(pooled)
    unconverged = False
    for w in caught:
        if issubclass(w.category, SklearnConvergenceWarning):
            unconverged = True
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    n_iter = int(getattr(est, "n_iter_", est.max_iter))
    return {"n_iter": n_iter, "max_iter": int(est.max_iter), "converged": not unconverged}


def _digest(x: np.ndarray) -> str:
    """A fingerprint of a batch (shape, dtype and values), to tell the batch ``ICA()`` was fitted on."""
    a = np.ascontiguousarray(x)
    return hashlib.sha256(repr((a.shape, a.dtype.str)).encode() + a.tobytes()).hexdigest()


class ICA(ChannelMixing, register=True):
    """Independent components of the channels; one score per component (summed over time).

    Parameters
    ----------
    ica : object, sequence of objects, or None
        A fitted object with sklearn ``FastICA``'s interface (``mixing_``, ``mean_``, ``transform``),
        fitted on samples of shape ``(time steps, channels)``, or a fitted ``mne.preprocessing.ICA``
        (on Raw or Epochs; the input's channels are then ``ica.ch_names`` in that order, and its
        sources are ``ica.get_sources(...)``'s): either one for the whole data set, or a sequence with
        one per sample of the batch explained. ``None`` fits a seeded ``FastICA`` on the first batch given to
        it (all its time steps pooled) and records that in the result's settings.
    random_state, max_iter : int
        Used only when ``ica`` is None. ``max_iter`` bounds the time FastICA spends (each iteration is one
        pass over the pooled time steps).

    Warns
    -----
    ConvergenceWarning
        Once, when the FastICA that ``ICA()`` fits itself stops at ``max_iter`` without converging (as
        on noise-like or Gaussian signals, which have no independent components to find). Its
        iterations and whether it converged are recorded either way, in
        ``settings["domain"]["fastica"]`` (``{"n_iter": ..., "max_iter": ..., "converged": ...}``).

    Notes
    -----
    The sources ``s = W (x - mean)`` are the coefficients; ``x = A s + mean``. With as many components
    as channels, ``W`` is the inverse of ``mixing_`` in double precision (an exact pair); with fewer,
    ``components_`` (or the pseudo-inverse of ``mixing_``). The map per
    (component, time step) is kept in ``extras["per_time"]`` and the source time courses (the
    coefficients) in ``coefficients``; ``values`` sums over time. The user's baseline is honoured:
    its sources are the path's start. With fewer components than channels the domain explains the
    reconstruction ``A W (x - mean) + mean`` of the input (cdig says so in the settings).

    ``ICA()`` fits on the first batch it is given and keeps that fit: reused on another batch, its
    note (``settings["domain"]["note"]``) names the batch it was fitted on (samples x time steps)
    and says that it is not the explained one.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import FastICA
    >>> rng = np.random.default_rng(0)
    >>> x = rng.laplace(size=(4, 2, 200)).astype("float32")
    >>> ica = FastICA(random_state=0, whiten="unit-variance").fit(x.transpose(0, 2, 1).reshape(-1, 2))
    >>> ICA(ica).fit(x).n_components_
    2
    """

    name = "ica"
    order = 20
    _undescribed = ("ica", "random_state", "max_iter")  # a fitted object: an ICA is not rebuilt from a file

    # set by fit() (declared, not assigned: unset until then)
    fitted_: Any
    per_sample_: bool
    fitted_batch_: tuple[int, int]
    fitted_digest_: str

    def __init__(self, ica: Any = None, *, random_state: int = 0, max_iter: int = 1000) -> None:
        self.ica = ica
        self.random_state = random_state
        self.max_iter = max_iter
        self.note_: str | None = None

    def fit(self, x: np.ndarray) -> "ICA":
        n, c, t = x.shape
        if self.ica is None:
            if getattr(self, "unmixing_", None) is not None:
                self._check_channels(c)
                n0, t0 = self.fitted_batch_
                if _digest(x) == self.fitted_digest_:
                    self.note_ = self._fitted_note(n0, t0)
                else:  # reused on another batch: say which one it was fitted on
                    self.note_ = (
                        f"FastICA(n_components={c}, random_state={self.random_state}) was fitted on an "
                        f"earlier batch given to this ICA() ({n0} samples x {t0} time steps pooled), not "
                        f"on the explained one ({n} samples x {t} time steps)"
                    )
                return self
            try:
                from sklearn.decomposition import FastICA
            except ImportError:  # pragma: no cover - depends on the environment
                raise CdigValueError(
                    "the 'ica' domain without a fitted object fits sklearn's FastICA, which is not "
                    "installed: pip install 'cdig[ica]', or pass ICA(fitted_object)"
                ) from None
            pooled = x.transpose(0, 2, 1).reshape(-1, c).astype(np.float64)
            est = FastICA(n_components=c, whiten="unit-variance", random_state=self.random_state, max_iter=self.max_iter)
            self.fastica_ = _fit_fastica(est, pooled)
            if not self.fastica_["converged"]:
                warnings.warn(
                    f"FastICA did not converge in {self.fastica_['n_iter']} iterations on this data (noise-like or "
                    "Gaussian signals have no independent components to find); the ICA map is of an unconverged "
                    "unmixing (still an exact change of coordinates: completeness holds). Pass a fitted ICA "
                    "(cdig.ICA(fitted_fastica)) or raise max_iter (cdig.ICA(max_iter=...)) / fit on more data",
                    ConvergenceWarning,
                    stacklevel=2,
                )
            self.fitted_ = est
            self.per_sample_ = False
            self.unmixing_, self.mixing_, self.mean_ = _matrices(est, c, "the fitted FastICA")
            self.fitted_batch_, self.fitted_digest_ = (n, t), _digest(x)
            self.note_ = self._fitted_note(n, t)
        elif isinstance(self.ica, Sequence) and not isinstance(self.ica, (str, bytes)):
            if len(self.ica) != n:
                raise CdigValueError(
                    f"ica is a sequence of {len(self.ica)} fitted objects but the batch has {n} samples; "
                    "give one per sample, or a single object fitted on the whole data set"
                )
            mats = [_matrices(o, c, f"ica[{i}]") for i, o in enumerate(self.ica)]
            ks = {m[0].shape[0] for m in mats}
            if len(ks) != 1:
                raise CdigValueError(f"the per-sample ICAs have different numbers of components: {sorted(ks)}")
            self.unmixing_, self.mixing_, self.mean_ = (np.stack([m[j] for m in mats]) for j in range(3))
            self.per_sample_ = True
            self._check_transform(self.ica[0], x[0], self.unmixing_[0], self.mean_[0])
        else:
            if not (hasattr(self.ica, "mixing_") or hasattr(self.ica, "transform") or _is_mne_ica(self.ica)):
                raise CdigTypeError(
                    "ica must be a fitted FastICA-like object, an mne.preprocessing.ICA, a sequence of them, or "
                    f"None; got {type(self.ica).__name__}"
                )
            self.unmixing_, self.mixing_, self.mean_ = _matrices(self.ica, c, "ica")
            self.per_sample_ = False
            self._check_transform(self.ica, x[0], self.unmixing_, self.mean_)
        k = self.unmixing_.shape[-2]
        if k < c:
            self.note_ = (
                f"{k} components for {c} channels: the domain explains the input's reconstruction "
                "A W (x - mean) + mean, which differs from the input"
            )
        return self

    def _fitted_note(self, n: int, t: int) -> str:
        return (
            f"FastICA(n_components={self.mixing_.shape[-2]}, random_state={self.random_state}) was fitted on "
            f"the explained batch itself ({n} samples x {t} time steps pooled)"
        )

    def batch_dependent(self) -> str | None:
        if self.ica is None and getattr(self, "unmixing_", None) is None:
            return "ICA() fits FastICA on each batch it explains; fit it once on the data set and pass cdig.ICA(fitted_fastica)"
        if isinstance(self.ica, Sequence) and not isinstance(self.ica, (str, bytes)):
            return "ICA([...]) holds one fitted object per sample of one batch; pass one object fitted on the data set"
        return None

    def _check_channels(self, c: int) -> None:
        if self.mixing_.shape[-2] != c:
            raise CdigValueError(f"this ICA domain was fitted on {self.mixing_.shape[-2]} channels but the input has {c}")

    @staticmethod
    def _check_transform(obj: Any, x0: np.ndarray, w: np.ndarray, mean: np.ndarray) -> None:
        if not hasattr(obj, "transform"):
            return
        pts = x0.T[: min(64, x0.shape[1])].astype(np.float64)
        ours = (pts - mean) @ w.T
        theirs = np.asarray(obj.transform(pts), dtype=np.float64)
        if theirs.shape != ours.shape or not np.allclose(ours, theirs, rtol=1e-4, atol=1e-6 * (1 + np.abs(ours).max())):
            raise CdigValueError(
                f"the ICA object's transform() is not (x - mean_) @ components_.T (or pinv(mixing_)); cdig "
                f"accepts objects with sklearn FastICA's whitened interface ({type(obj).__name__} differs)"
            )

    def select_rows(self, idx: np.ndarray) -> "ICA":
        if not self.per_sample_:
            return self
        view = ICA.__new__(ICA)
        view.__dict__.update(self.__dict__)
        view.unmixing_, view.mixing_, view.mean_ = self.unmixing_[idx], self.mixing_[idx], self.mean_[idx]
        return view

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["per_sample"] = bool(getattr(self, "per_sample_", False))
        d["n_components"] = int(self.unmixing_.shape[-2]) if hasattr(self, "unmixing_") else None
        fastica = getattr(self, "fastica_", None)
        if fastica is not None and self.ica is None:
            d["fastica"] = dict(fastica)
        if self.note_:
            d["note"] = self.note_
        return d
