"""Any fitted linear basis of the channels (PCA and the like): ``z_t = B (x_t - mean)`` per time step."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import CdigTypeError, CdigValueError
from ._channels import ChannelMixing

__all__ = ["LinearBasis"]

#: Rows count as orthonormal when ``B Bᵀ`` is the identity to this (absolute) tolerance.
ORTHONORMAL_ATOL = 1e-10


def _from_fitted(obj: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(analysis matrix (K, C), mean (C,) or None) of a fitted sklearn-PCA-like object."""
    if not hasattr(obj, "components_"):
        raise CdigValueError(
            f"components ({type(obj).__name__}) is not fitted: it lacks components_. Accepted: a (K, C) array, "
            "or a fitted object with sklearn PCA's interface (components_, optional mean_ and whiten); "
            "call .fit(...) first"
        )
    comps = np.asarray(obj.components_, dtype=np.float64)
    mean = getattr(obj, "mean_", None)
    # sklearn's PCA(whiten=True) divides by sqrt(explained_variance_) after projecting; FastICA's
    # whiten is a string and its components_ already include the whitening.
    if getattr(obj, "whiten", False) is True and hasattr(obj, "explained_variance_"):
        comps = comps / np.sqrt(np.asarray(obj.explained_variance_, dtype=np.float64))[:, None]
    return comps, None if mean is None else np.asarray(mean, dtype=np.float64)


class LinearBasis(ChannelMixing, register=True):
    """Coefficients on a fixed linear basis of the channels; one score per component (summed over time).

    Parameters
    ----------
    components : array of shape (K, C), or a fitted PCA-like object
        The analysis matrix ``B``: row ``k`` gives component ``k`` as a combination of the ``C``
        channels, applied at every time step (sklearn's ``components_`` of a PCA fitted on samples of
        shape ``(time steps, channels)``). An object with ``components_`` (and ``mean_``) is taken as
        sklearn's ``PCA`` / ``TruncatedSVD`` / ``FastICA``-like; a whitening PCA (``whiten=True``)
        is honoured. See also :meth:`from_sklearn`.
    mean : array of shape (C,), optional
        Subtracted before projecting; default the object's ``mean_``, else zero.

    Notes
    -----
    ``z[:, k, t] = Σ_c B[k, c] (x[:, c, t] - mean[c])``, coefficients ``(N, K, T)``. The inverse is
    ``x = M z + mean`` with ``M = Bᵀ`` when the rows of ``B`` are orthonormal (PCA without whitening)
    and the pseudo-inverse ``M = B⁺`` otherwise. The domain is linear and shares the time-domain pass
    when ``M B = I``; with fewer components than channels (``K < C``) ``M B`` is a projection, the
    domain explains the input's reconstruction ``M B (x - mean) + mean`` and cdig gives it its own
    pass (the settings say so). With more components than channels the coefficients are not unique:
    ``B⁺`` reads them as the minimum-norm decomposition.

    ``values`` sums the map over time, ``(N, K)``; the map per (component, time step) is kept in
    ``extras["per_time"]`` and the coefficient time courses in ``coefficients``, as for
    :class:`cdig.ICA`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(4, 3, 50))
    >>> pca = PCA(n_components=2).fit(x.transpose(0, 2, 1).reshape(-1, 3))
    >>> LinearBasis.from_sklearn(pca).fit(x).n_components_
    2
    """

    name = "basis"
    order = 110
    _undescribed = ("components", "mean")  # arrays or a fitted object: described by their shape below

    def __init__(self, components: Any, mean: Any = None) -> None:
        self.components = components
        self.mean = mean
        self.note_: str | None = None

    @classmethod
    def from_sklearn(cls, estimator: Any) -> "LinearBasis":
        """The basis of a fitted sklearn ``PCA`` (or any object with ``components_`` and ``mean_``)."""
        if not hasattr(estimator, "components_"):
            _from_fitted(estimator)  # raises the "not fitted" error
        return cls(estimator)

    # --- fitting ---------------------------------------------------------------------------
    def _matrices(self) -> tuple[np.ndarray, np.ndarray | None]:
        obj = self.components
        if isinstance(obj, (np.ndarray, list, tuple)) or hasattr(obj, "__array__"):
            arr = np.asarray(obj)
            if arr.dtype.kind not in "biuf":
                raise CdigTypeError(f"components must be a real (K, C) array, got dtype {arr.dtype}")
            comps, mean = arr.astype(np.float64), None
        elif hasattr(obj, "fit") or hasattr(obj, "transform"):
            comps, mean = _from_fitted(obj)
        else:
            raise CdigTypeError(f"components must be a (K, C) array or a fitted PCA-like object, got {type(obj).__name__}")
        if comps.ndim != 2 or 0 in comps.shape:
            raise CdigValueError(f"components has shape {comps.shape}; it must be a 2-D (K components, C channels) matrix")
        if not np.all(np.isfinite(comps)):
            raise CdigValueError("components contains NaN/Inf values")
        if self.mean is not None:
            mean = np.asarray(self.mean, dtype=np.float64).reshape(-1)
        return comps, mean

    def fit(self, x: np.ndarray) -> "LinearBasis":
        c = int(np.shape(x)[1])
        comps, mean = self._matrices()
        k, cc = comps.shape
        if cc != c:
            raise CdigValueError(
                f"components has {cc} columns (channels) but the input has {c} channels; give a (K, {c}) "
                f"matrix, i.e. a basis fitted on samples of shape (time steps, {c} channels)"
            )
        mean = np.zeros(c) if mean is None else mean
        if mean.shape != (c,) or not np.all(np.isfinite(mean)):
            raise CdigValueError(f"mean has shape {mean.shape}; it must hold {c} finite values, one per channel")
        self.orthonormal_ = bool(np.allclose(comps @ comps.T, np.eye(k), rtol=0, atol=ORTHONORMAL_ATOL))
        self.components_ = comps
        self.inverse_ = comps.T.copy() if self.orthonormal_ else np.linalg.pinv(comps)
        self.mean_ = mean
        self.unmixing_, self.mixing_ = self.components_, self.inverse_  # ChannelMixing's names
        self.note_ = None
        if np.linalg.matrix_rank(comps) < c:
            self.note_ = (
                f"{k} components of rank {np.linalg.matrix_rank(comps)} for {c} channels: the domain "
                "explains the input's reconstruction M B (x - mean) + mean, which differs from the input"
            )
        self._check_transform(x)
        return self

    def _check_transform(self, x: np.ndarray) -> None:
        obj = self.components
        if self.mean is not None or not hasattr(obj, "transform") or not hasattr(obj, "components_"):
            return
        pts = np.asarray(x[0], dtype=np.float64).T[: min(64, x.shape[-1])]
        ours = (pts - self.mean_) @ self.components_.T
        theirs = np.asarray(obj.transform(pts), dtype=np.float64)
        if theirs.shape != ours.shape or not np.allclose(ours, theirs, rtol=1e-4, atol=1e-6 * (1 + np.abs(ours).max())):
            raise CdigValueError(
                f"the object's transform() is not (x - mean_) @ components_.T; cdig accepts objects with sklearn "
                f"PCA's interface ({type(obj).__name__} differs); pass its analysis matrix as an array instead"
            )

    def _require_fitted(self) -> None:
        self.check_fitted("components_")

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        fitted = getattr(self, "components_", None) is not None
        d["n_components"] = int(self.components_.shape[0]) if fitted else None
        d["orthonormal"] = bool(self.orthonormal_) if fitted else None
        d["source"] = type(self.components).__name__
        if self.note_:
            d["note"] = self.note_
        return d

    def __repr__(self) -> str:
        mean = "given" if self.mean is not None else None
        return f"LinearBasis(components={type(self.components).__name__}, mean={mean})"
