"""Domains in sequence: ``z = Tₖ(… T₂(T₁(x)))``, e.g. spatial ICA, then each component's spectrum."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import CdigTypeError, CdigValueError
from .base import Domain

__all__ = ["Compose"]


class Compose(Domain):
    """The composition of domains: ``z = then.forward(first.forward(x))``, ``x = first.inverse(then.inverse(z))``.

    Each domain after the first treats the coefficients of the one before as its canonical batch
    ``(N, C', T')``: e.g. ``Compose(ICA(ica), Fourier())`` takes the sources ``(N, K, T)`` to their
    spectra ``(N, K, F)``, a map per (component, frequency). The composition is linear when every
    part is, and then rides the shared time-domain pass like any linear domain.

    Parameters
    ----------
    *domains : Domain or str
        Two or more domains (or names of :data:`cdig.domains.DOMAINS`), applied left to right.
    name : str, optional
        Key of the result; default the parts' names joined by ``+`` (``"ica+fourier"``).

    Notes
    -----
    ``fit`` fits the first domain on the input, then each next one on the coefficients of the one
    before (computed with numpy). It refuses coefficients that are not a real ``(N, C', T')`` batch
    (e.g. the complex bins of ``Fourier`` cannot feed ``ICA``), naming the two domains.
    ``select_rows`` is the composition's of the parts'. Dims, coordinates and ``reduce`` are the last
    domain's, with its ``channel`` axis renamed after the first domain's leading axis (``component``
    for ICA) and given that axis's coordinates; the sampling rate reaches the next domain only while
    the axis it transforms is still ``time``.

    Examples
    --------
    >>> import numpy as np
    >>> from cdig.domains.ica import ICA
    >>> from cdig.domains.fourier import Fourier
    >>> from sklearn.decomposition import FastICA
    >>> x = np.random.default_rng(0).laplace(size=(2, 3, 64))
    >>> ica = FastICA(random_state=0, whiten="unit-variance").fit(x.transpose(0, 2, 1).reshape(-1, 3))
    >>> d = Compose(ICA(ica), Fourier()).fit(x)
    >>> d.name, d.dims, d.forward(x, np).shape
    ('ica+fourier', ('component', 'frequency'), (2, 3, 33))
    >>> bool(np.allclose(d.inverse(d.forward(x, np), np), x))
    True
    """

    parameter_free = False  # two or more parts are required
    _undescribed = ("domains", "name")  # the parts are described one by one below; the name is recorded anyway

    def __init__(self, *domains: Domain | str, name: str | None = None) -> None:
        if len(domains) == 1 and isinstance(domains[0], (list, tuple)):
            domains = tuple(domains[0])
        if len(domains) < 2:
            raise CdigValueError(f"Compose needs at least two domains, got {len(domains)}")
        parts = []
        for d in domains:
            if isinstance(d, str):
                from . import DOMAINS  # lazily: the package imports this module

                if d.lower() not in DOMAINS:
                    raise CdigValueError(f"unknown domain {d!r} in Compose; accepted names: {', '.join(DOMAINS)}")
                d = DOMAINS[d.lower()]()
            if not isinstance(d, Domain):
                raise CdigTypeError(f"Compose takes cdig.Domain objects or names, got {type(d).__name__}")
            parts.append(d)
        self.domains: tuple[Domain, ...] = tuple(parts)
        self.name = name if name is not None else "+".join(d.name for d in parts)
        self.linear = all(d.linear for d in parts)
        self.channel_name_: str = self._channel_name()

    def _channel_name(self) -> str:
        dims = self.domains[0].dims
        return dims[0] if dims else "channel"

    def _rename(self, dims: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if dims is None:
            return None
        return tuple(self.channel_name_ if (i == 0 and a == "channel") else a for i, a in enumerate(dims))

    @property
    def dims(self) -> tuple[str, ...] | None:  # type: ignore[override]
        return self._rename(self.domains[-1].dims)

    def fit(self, x: np.ndarray) -> "Compose":
        z = np.asarray(x)
        self.shapes_ = [tuple(z.shape)]
        for i, d in enumerate(self.domains):
            if i:
                prev = self.domains[i - 1]
                if np.iscomplexobj(z) or z.ndim != 3 or z.shape[0] != x.shape[0]:
                    kind = "complex" if np.iscomplexobj(z) else "real"
                    raise CdigValueError(
                        f"Compose: the {prev.name!r} domain's coefficients ({kind}, shape {z.shape}) cannot feed "
                        f"the {d.name!r} domain, which expects a real batch (N, C', T') = "
                        f"({x.shape[0]}, channels, time); put {d.name!r} first or pick a domain whose "
                        "coefficients have that layout"
                    )
            d.fit(z)
            z = np.asarray(d.forward(z, np))
            self.shapes_.append(tuple(z.shape))
        return self

    def forward(self, x: Any, xp: Any) -> Any:
        for d in self.domains:
            x = d.forward(x, xp)
        return x

    def inverse(self, z: Any, xp: Any) -> Any:
        for d in reversed(self.domains):
            z = d.inverse(z, xp)
        return z

    def select_rows(self, idx: np.ndarray) -> "Compose":
        view = Compose.__new__(Compose)
        view.__dict__.update(self.__dict__)
        view.domains = tuple(d.select_rows(idx) for d in self.domains)
        return view

    def reduce(self, values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...] | None, dict[str, np.ndarray]]:
        values, dims, extras = self.domains[-1].reduce(values)
        return values, self._rename(tuple(dims) if dims is not None else None), extras

    def value_index(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.domains[-1].value_index(shape)

    def batch_dependent(self) -> str | None:
        return next((r for r in (d.batch_dependent() for d in self.domains) if r), None)

    def axis_names(self, ndim: int) -> tuple[str, ...]:
        return self._rename(self.domains[-1].axis_names(ndim))  # type: ignore[return-value]

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        # The rate means something to the next domain only while the axis it transforms is time.
        rate, lead = fs, None
        shapes = getattr(self, "shapes_", None)
        for i, d in enumerate(self.domains[:-1]):
            sub = shapes[i + 1][1:] if shapes else None
            c, _ = d.coords(sub, rate) if sub is not None and len(sub) >= 2 else ({}, {})
            if i == 0 and sub is not None and len(sub) >= 1:
                lead = c.get(self.channel_name_, np.arange(sub[0]))
            n_time = len(c["time"]) if "time" in c else None
            rate = rate if (n_time is not None and sub is not None and n_time == sub[-1]) else None
        coords, units = self.domains[-1].coords(shape, rate)
        if "channel" in coords and self.channel_name_ != "channel":
            ch = coords.pop("channel")
            coords = {self.channel_name_: lead if lead is not None and len(lead) == len(ch) else ch, **coords}
            if "channel" in units:
                units[self.channel_name_] = units.pop("channel")
        return coords, units

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["domains"] = [p.describe() for p in self.domains]
        return d

    def __repr__(self) -> str:
        return f"Compose({', '.join(map(repr, self.domains))})"
