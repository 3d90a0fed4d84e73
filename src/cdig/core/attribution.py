"""The result object of an explanation in one domain: values, coords, delta, settings; save/load."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Attribution"]


@dataclass
class Attribution:
    """Cross-domain IG attributions of a batch in one domain.

    Attributes
    ----------
    values : ndarray
        The map, sample axis first; its axes are named by ``dims`` (after ``"sample"``).
    domain : str
        The domain's name (``"time"``, ``"fourier"``, ``"ica"``, ...).
    dims : tuple of str
        Names of the axes of ``values`` after the sample axis, e.g. ``("channel", "frequency")``.
    coords : dict of str to ndarray
        Coordinates of those axes (e.g. frequencies in Hz when ``fs`` was given).
    units : dict of str to str
        Units of the coordinates (``"Hz"``, ``"s"``, ``"cycles/sample"``, ``"sample"``).
    delta : ndarray, shape (N,)
        Completeness error per sample: ``values`` summed minus ``output - baseline_output``.
    output, baseline_output : ndarray, shape (N,)
        The explained model output at the input and at the baseline (as reconstructed by the domain).
    n_steps : ndarray, shape (N,)
        Gradient evaluations spent on each sample's path.
    target : object
        The target as given (JSON-friendly description).
    settings : dict
        Everything that determines the result: method, steps, backend, domain parameters, notes.
    coefficients, baseline_coefficients : ndarray or None
        The domain coefficients of the input and of the baseline (canonical layout).
    extras : dict of str to ndarray
        Domain-specific arrays, e.g. ICA's per-time map and source time courses.
    domain_object : Domain or None
        The fitted domain that computed the map (a snapshot: refitting the user's object later does
        not change it), used by :mod:`cdig.metrics` to map perturbed coefficients back to signals.
        Not saved: :meth:`load` returns None here, and the metrics rebuild the domain from
        ``settings["domain"]`` and fit it on the input (see :meth:`cdig.Domain.from_description`),
        or take ``domain=`` where those settings do not determine it (a fitted ICA, a basis).
    error_estimate : dict of str to ndarray, or None
        With ``n_steps="auto"``: the estimated error of the map itself, per sample — ``"absolute"``
        (L2 norm of the estimated error of ``values``) and ``"relative"`` (that over the L2 norm of
        ``values``). It is the Kronrod minus Gauss difference of the integrated gradient, calibrated to
        the Kronrod result's error on piecewise-constant (ReLU) integrands, summed over the adaptive
        rule's intervals and mapped like the map (see :func:`cdig.core.path.integrate_adaptive`).
        None for fixed rules, which carry no error estimate (``delta`` checks only the map's sum).
    """

    values: np.ndarray
    domain: str
    dims: tuple[str, ...]
    coords: dict[str, np.ndarray]
    delta: np.ndarray
    output: np.ndarray
    baseline_output: np.ndarray
    n_steps: np.ndarray
    target: Any = None
    units: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    coefficients: np.ndarray | None = None
    baseline_coefficients: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    domain_object: Any = field(default=None, repr=False, compare=False)
    error_estimate: dict[str, np.ndarray] | None = None

    @property
    def relative_delta(self) -> np.ndarray:
        """``|delta| / |output - baseline_output|`` per sample (inf where the two outputs are equal)."""
        diff = np.abs(self.output - self.baseline_output)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(diff > 0, np.abs(self.delta) / diff, np.where(self.delta == 0, 0.0, np.inf))

    def sum(self) -> np.ndarray:
        """Total attribution per sample (equals ``output - baseline_output + delta``)."""
        return self.values.reshape(len(self.values), -1).sum(axis=1, dtype=np.float64)

    def as_tensor(self) -> Any:
        """``values`` as a tensor of the framework the model ran in, on the device it ran on (``values``
        itself, a numpy array, for a model run on numpy arrays: ``settings["backend"] == "numpy"``)."""
        from ..backends import get_backend_by_name

        name = self.settings.get("backend", "numpy")
        if name == "numpy":  # a plain numpy function's (cdig.perturb): the values are already its arrays
            return self.values
        backend = get_backend_by_name(name)
        return backend.from_numpy(self.values, self.settings.get("device"))

    def plot(self, sample: int = 0, **kwargs: Any) -> Any:
        """Plot one sample with the plotter of this map's domain (see :func:`cdig.plot.plot_attribution`).

        Returns a ``matplotlib.figure.Figure`` not attached to pyplot; ``**kwargs`` go to the plotter
        (``title=``, ``figsize=``, and domain options such as ``band=`` for Fourier).
        """
        from ..plot import plot_attribution  # an edge: imported only when drawing

        return plot_attribution(self, sample, **kwargs)

    def __repr__(self) -> str:
        shape = "×".join(map(str, self.values.shape))
        return (
            f"Attribution(domain={self.domain!r}, values={shape} {self.dims}, "
            f"max |delta|={float(np.max(np.abs(self.delta))):.3g})"
        )

    # --- files ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write to a ``.npz`` file (arrays as arrays, the rest as JSON); read back with :meth:`load`.

        Examples
        --------
        >>> import numpy as np, tempfile, os
        >>> a = Attribution(np.ones((1, 2)), "time", ("time",), {"time": np.arange(2.0)},
        ...                 np.zeros(1), np.ones(1), np.zeros(1), np.array([50]))
        >>> p = a.save(os.path.join(tempfile.mkdtemp(), "a.npz"))
        >>> Attribution.load(p).values.tolist()
        [[1.0, 1.0]]
        """
        path = Path(path)
        arrays: dict[str, np.ndarray] = {
            "values": self.values,
            "delta": self.delta,
            "output": self.output,
            "baseline_output": self.baseline_output,
            "n_steps": self.n_steps,
        }
        for k, v in self.coords.items():
            arrays[f"coords__{k}"] = np.asarray(v)
        for k, v in self.extras.items():
            arrays[f"extras__{k}"] = np.asarray(v)
        if self.coefficients is not None:
            arrays["coefficients"] = self.coefficients
        if self.baseline_coefficients is not None:
            arrays["baseline_coefficients"] = self.baseline_coefficients
        for k, v in (self.error_estimate or {}).items():
            arrays[f"error_estimate__{k}"] = np.asarray(v)
        meta = {
            "domain": self.domain,
            "dims": list(self.dims),
            "units": self.units,
            "target": _jsonable(self.target),
            "settings": _jsonable(self.settings),
        }
        arrays["meta"] = np.array(json.dumps(meta))
        # no key is "allow_pickle" (numpy's keyword-only flag), which the stubs cannot be told
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")

    def to_xarray(self, name: str | None = None) -> Any:
        """The map as an ``xarray.Dataset``, ready for ``to_netcdf`` (xarray is imported only here).

        Parameters
        ----------
        name : str, optional
            Names the map's variable ``f"{name}_attribution"``; default: the domain's name.

        Returns
        -------
        xarray.Dataset
            Data variables:

            * ``<name>_attribution``: ``values`` with dims ``("sample", *dims)``; its attrs ``domain``
              and ``units`` (``str(self.units)``, the units of the coordinates);
            * ``delta``, ``output``, ``baseline_output``, ``n_steps``: per sample (dim ``"sample"``);
            * ``error_estimate_absolute``, ``error_estimate_relative``: per sample, with ``n_steps="auto"``.

            Coordinates: each coordinate named like an axis and as long as it is becomes that
            axis's coordinate; another 1-D coordinate as long as exactly one axis lies along that
            axis (e.g. the wavelet's ``band`` and ``time`` along ``coefficient``); any other along
            its own dimension of its own name (e.g. ``band_name``). Each carries its unit in
            ``attrs["units"]`` when known.

            Dataset attrs (NetCDF holds no nested values, so these are JSON text): ``domain``,
            ``dims``, ``target`` and ``settings``. ``coefficients``, ``extras`` and the fitted domain
            are not included: :meth:`save` keeps them.

        Raises
        ------
        ImportError
            When xarray is not installed.

        Examples
        --------
        >>> import numpy as np
        >>> a = Attribution(np.ones((2, 3)), "fourier", ("frequency",), {"frequency": np.array([0.0, 1.0, 2.0])},
        ...                 np.zeros(2), np.ones(2), np.zeros(2), np.array([8, 8]), units={"frequency": "Hz"})
        >>> ds = a.to_xarray()                                     # doctest: +SKIP
        >>> ds["fourier_attribution"].dims, ds["frequency"].attrs["units"]   # doctest: +SKIP
        (('sample', 'frequency'), 'Hz')
        """
        import xarray as xr

        name = self.domain if name is None else name
        dims = ("sample", *self.dims)
        sizes = dict(zip(dims, np.shape(self.values)))
        coords: dict[str, Any] = {}
        for k, v in self.coords.items():
            v = np.asarray(v)
            if k in sizes and v.ndim == 1 and len(v) == sizes[k]:
                coords[k] = (k, v)
            elif k in sizes or v.ndim != 1:
                continue  # an axis's name with another length, or not 1-D: kept by save() only
            else:
                along = [d for d in self.dims if sizes[d] == len(v)]
                coords[k] = (along[0] if len(along) == 1 else k, v)
        coords = {k: (d, v, {"units": self.units[k]} if k in self.units else {}) for k, (d, v) in coords.items()}
        per_sample = {
            "delta": self.delta,
            "output": self.output,
            "baseline_output": self.baseline_output,
            "n_steps": self.n_steps,
            **{f"error_estimate_{k}": v for k, v in (self.error_estimate or {}).items()},
        }
        data = {
            f"{name}_attribution": (dims, np.asarray(self.values), {"domain": self.domain, "units": str(self.units)}),
            **{k: ("sample", np.asarray(v)) for k, v in per_sample.items()},
        }
        attrs = {
            "domain": self.domain,
            "dims": json.dumps(list(self.dims)),
            "target": json.dumps(_jsonable(self.target)),
            "settings": json.dumps(_jsonable(self.settings)),
        }
        return xr.Dataset(data, coords=coords, attrs=attrs)

    @classmethod
    def load(cls, path: str | Path) -> "Attribution":
        """Read an attribution written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            coords = {k[len("coords__") :]: f[k] for k in f.files if k.startswith("coords__")}
            extras = {k[len("extras__") :]: f[k] for k in f.files if k.startswith("extras__")}
            return cls(
                values=f["values"],
                domain=meta["domain"],
                dims=tuple(meta["dims"]),
                coords=coords,
                delta=f["delta"],
                output=f["output"],
                baseline_output=f["baseline_output"],
                n_steps=f["n_steps"],
                target=meta["target"],
                units=meta["units"],
                settings=meta["settings"],
                coefficients=f["coefficients"] if "coefficients" in f.files else None,
                baseline_coefficients=f["baseline_coefficients"] if "baseline_coefficients" in f.files else None,
                extras=extras,
                error_estimate={k[len("error_estimate__") :]: f[k] for k in f.files if k.startswith("error_estimate__")} or None,
            )


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return repr(v)
