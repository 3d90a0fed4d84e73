"""Run Quantus metrics on coefficient-space data: the model seen as ``model ∘ inverse`` (``pip install quantus``).

Quantus perturbs the features it is given and asks the model again. Hand it a domain's coefficients
instead of the signal, and a model that maps coefficients back through the domain's inverse first,
and every Quantus metric (faithfulness, robustness, randomisation, complexity...) measures the map
in that domain. :func:`coefficient_space` builds the pieces:

* ``model``: a ``torch.nn.Module`` on real coefficient arrays ``(N, C, L)``: each sample's
  coefficients with the channel (or component) axis first and everything after it flattened in
  order (an STFT's ``(frequency, frame)``, TrendSeason's ``(component, time)``, MagnitudePhase's
  ``(component, frequency)``); complex coefficients as their real parts followed by their imaginary
  parts along the last axis (``(N, C, 2F)`` for an rFFT);
* ``x_batch``: the input's coefficients in that real layout; ``y_batch``: the target per sample;
* ``a_batch``: the map per real coefficient — cross-domain IG *is* IG of that model in its input
  (along the straight coefficient path from the baseline's coefficients, with the attribution's
  rule and steps), so it is computed exactly that way; :meth:`CoefficientSpace.merge` adds real
  and imaginary parts, and the coefficients a reported value stands for (an ICA component's time
  course, a band's bins), and gives back the attribution's ``values``;
* ``explain_func``: the same explanation for any batch of coefficients, for metrics that
  re-explain (e.g. ``quantus.MaxSensitivity``).

Every domain works, nonlinear ones included. Domains whose inverse differs from one sample to the
next (the cepstrum's per-sample sign and delay, one ICA per sample) need to know which sample each
row is: the model takes the whole batch of ``N`` rows in their order (Quantus keeps the rows of
``x_batch`` in order, and :meth:`CoefficientSpace.kwargs` sets ``batch_size=N`` so that it hands all
of them over at once); a call with another number of rows is an error, never a silent mix-up.

Only PyTorch models with a class index per sample are supported (Quantus' own model wrappers are
for PyTorch and TensorFlow, and the coefficient model must be differentiable for ``a_batch``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import CdigTypeError, CdigValueError, ConvergenceWarning
from ..domains import Compose, Domain
from ..domains.magphase import complex_from_parts
from ._common import check_attribution, recorded_target, setup

__all__ = ["CoefficientSpace", "coefficient_space"]


@dataclass
class CoefficientSpace:
    """What a Quantus metric needs, in a domain's coefficients. ``kwargs()`` gives the call's keywords.

    Attributes
    ----------
    model : torch.nn.Module
        Real coefficients ``(n, C, L)`` -> the model's output; ``model(z, rows)`` takes the sample
        index of each row (``rows``, shape ``(n,)``) where the domain has per-sample state.
    x_batch, y_batch, a_batch : ndarray
        The input's real coefficients ``(N, C, L)``, the class index per sample ``(N,)``, and the map
        per real coefficient ``(N, C, L)``.
    explain_func, explain_func_kwargs :
        ``explain_func(model, inputs, targets, n_steps=...)``: the map of ``model`` at other
        coefficients (the rows of ``x_batch``, perturbed), from the attribution's baseline.
    complex_coefficients : bool
        Whether the last axis holds real parts, then imaginary parts.
    coefficient_shape : tuple of int
        One sample's coefficients in the domain's own layout (e.g. ``(C, F, frames)``).
    value_index : ndarray
        For each coefficient (flattened), the flat index of the reported value it counts towards.
    map_shape : tuple of int
        One sample's map, ``attribution.values.shape[1:]``.
    per_sample : bool
        Whether the domain's inverse differs per sample (then the model needs the whole batch in order).
    """

    model: Any
    x_batch: np.ndarray
    y_batch: np.ndarray
    a_batch: np.ndarray
    explain_func: Any
    explain_func_kwargs: dict[str, Any] = field(default_factory=dict)
    complex_coefficients: bool = False
    coefficient_shape: tuple[int, ...] = ()
    value_index: np.ndarray | None = None
    map_shape: tuple[int, ...] = ()
    per_sample: bool = False

    def kwargs(self) -> dict[str, Any]:
        """``model``, ``x_batch``, ``y_batch``, ``a_batch``, ``explain_func``, ``explain_func_kwargs``,
        ``channel_first=True``, ``device`` and ``batch_size=N`` (the whole batch at once, in order)
        for a Quantus metric's ``__call__``."""
        device = next((str(p.device) for p in self.model.parameters()), "cpu")
        return dict(
            model=self.model,
            x_batch=self.x_batch,
            y_batch=self.y_batch,
            a_batch=self.a_batch,
            explain_func=self.explain_func,
            explain_func_kwargs=self.explain_func_kwargs,
            channel_first=True,
            device=device,
            batch_size=len(self.x_batch),
        )

    def merge(self, a: np.ndarray) -> np.ndarray:
        """Scores per real coefficient ``(n, C, L)`` back to the attribution's map ``(n, *map_shape)``: the real
        and imaginary parts of a complex coefficient added, then the coefficients of each reported value."""
        a = np.asarray(a)
        n = len(a)
        channels = self.coefficient_shape[0] if self.coefficient_shape else 1
        a = a.reshape(n, channels, -1)
        if self.complex_coefficients:
            half = a.shape[-1] // 2
            a = a[..., :half] + a[..., half:]
        flat = a.reshape(n, -1)
        index = self.value_index
        n_units = int(np.prod(self.map_shape))
        if index is not None and not (n_units == flat.shape[1] and np.array_equal(index, np.arange(n_units))):
            out = np.zeros((n, n_units), dtype=flat.dtype)
            np.add.at(out, (np.arange(n)[:, None], index[None, :]), flat)
            flat = out
        return flat.reshape((n,) + tuple(self.map_shape))


def coefficient_space(
    model: Any,
    x: Any,
    attribution: Any,
    *,
    target: Any = None,
    domain: Any = None,
    time_axis: int | None = None,
    n_steps: int | str | None = None,
) -> CoefficientSpace:
    """The pieces to run a Quantus metric on ``attribution``'s domain (see the module docstring).

    Parameters
    ----------
    model, x, attribution :
        As given to and returned by :func:`cdig.explain` (a PyTorch model), in any domain.
    target : optional
        Default: the attribution's (an output index, or one per sample).
    domain : Domain or str, optional
        The fitted domain, for an Attribution read from a file whose domain cannot be rebuilt from its
        recorded settings (see :func:`cdig.metrics.deletion`).
    time_axis : int, optional
        As in :func:`cdig.explain`; default: the attribution's.
    n_steps : int or "auto", optional
        Steps of ``a_batch`` and ``explain_func``; default: the attribution's, with its rule (and its
        ``rtol``/``max_steps`` for ``"auto"``), so that ``merge(a_batch)`` equals the attribution.

    Returns
    -------
    CoefficientSpace

    Raises
    ------
    CdigTypeError
        For a model of another framework than PyTorch.
    CdigValueError
        For an attribution without a class index per sample, or of gradients
        (``multiply_by_inputs=False``), and as :func:`cdig.metrics.deletion` for the wrong ``x``.

    Examples
    --------
    >>> import torch, cdig
    >>> from cdig.metrics.quantus import coefficient_space
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 3)).double()
    >>> x = torch.randn(4, 1, 32, dtype=torch.float64)
    >>> att = cdig.explain(model, x, "fourier", target=2)["fourier"]
    >>> q = coefficient_space(model, x, att)
    >>> q.x_batch.shape, q.a_batch.shape              # 17 complex bins as 34 real numbers
    ((4, 1, 34), (4, 1, 34))
    >>> bool(abs(q.merge(q.a_batch) - att.values).max() < 1e-9)
    True

    Four-dimensional coefficients are flattened after the channel axis, and a domain with per-sample
    state (the cepstrum) is told which sample each row is:

    >>> att = cdig.explain(model, x, cdig.STFT(8, hop_length=4), target=2)["stft"]
    >>> q = coefficient_space(model, x, att)
    >>> att.values.shape, q.x_batch.shape            # (channel, 5 frequencies, 9 frames), complex
    ((4, 1, 5, 9), (4, 1, 90))
    >>> bool(abs(q.merge(q.a_batch) - att.values).max() < 1e-9)
    True
    >>> q = coefficient_space(model, x, cdig.explain(model, x, "cepstrum", target=2, n_steps=16)["cepstrum"])
    >>> q.per_sample, q.kwargs()["batch_size"]
    (True, 4)
    """
    att = check_attribution(attribution)
    tgt = recorded_target(att, target)
    labels = tgt if isinstance(tgt, (list, tuple, np.ndarray)) else [tgt]
    if (
        tgt is None
        or len(labels) not in (1, len(att.values))
        or not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in labels)
    ):
        raise CdigValueError(
            f"Quantus needs one class index per sample; the target is {att.target!r}: explain "
            "with target= an int, or one int per sample"
        )
    s = setup(
        model,
        x,
        att,
        domain=domain,
        target=target,
        time_axis=time_axis,
        additional_forward_args=None,
        internal_batch_size=None,
        backend=None,
    )
    be, d = s.prep.be, s.domain
    if be.name != "torch":
        raise CdigTypeError(f"the Quantus adapter takes PyTorch models; this one runs on {be.name}")
    n = len(s.z)
    y = np.broadcast_to(np.asarray(labels, dtype=np.int64), (n,)).copy()
    is_complex = np.iscomplexobj(s.z)
    real, real0 = _real_view(s.z, is_complex), _real_view(s.z0, is_complex)
    per_sample = _per_sample(d, n)
    module = _coefficient_model(be, model, d, s.prep.layout, s.z.shape[1:], real.shape[1:], is_complex, n, per_sample)
    rule = _rule(att.settings, n_steps)

    def explain_func(model: Any, inputs: Any, targets: Any, **kwargs: Any) -> np.ndarray:
        """Cross-domain IG of ``model`` (the coefficient model) at ``inputs`` (real coefficients, rows of
        ``x_batch`` in order), from the attribution's baseline coefficients."""
        from ..api import explain

        inputs = np.asarray(inputs.detach().cpu() if hasattr(inputs, "detach") else inputs, dtype=real.dtype)
        m = len(inputs)
        inputs = inputs.reshape((m,) + real.shape[1:])
        tg = np.asarray(targets.detach().cpu() if hasattr(targets, "detach") else targets).reshape(-1).tolist()
        steps = kwargs.get("n_steps", rule["n_steps"])
        how = rule if steps == rule["n_steps"] else _rule(att.settings, steps)
        args = (_rows(m, n, "explain_func"),) if per_sample else None
        out = explain(
            model,
            inputs,
            "time",
            target=tg if len(tg) > 1 else tg[0],
            baselines=_baseline(real0, m),
            time_axis=-1,
            additional_forward_args=args,
            **how,
        )["time"]
        return out.values.reshape(inputs.shape)

    with warnings.catch_warnings():
        # the attribution's own explanation already warned about its accuracy; a_batch repeats it exactly
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = explain_func(module, real, y)
    return CoefficientSpace(
        module,
        real,
        y,
        a,
        explain_func,
        {"n_steps": rule["n_steps"]},
        is_complex,
        tuple(s.z.shape[1:]),
        s.index,
        tuple(att.values.shape[1:]),
        per_sample,
    )


def _real_view(z: np.ndarray, is_complex: bool) -> np.ndarray:
    """``(N, C, L)``: everything after the channel axis flattened; complex as real parts, then imaginary parts."""
    z = np.asarray(z)
    z = z.reshape(len(z), z.shape[1] if z.ndim > 1 else 1, -1)
    return np.concatenate([z.real, z.imag], axis=-1) if is_complex else z


def _per_sample(d: Domain, n: int) -> bool:
    """Whether ``d``'s inverse differs per sample: its :meth:`~Domain.select_rows` returns another object
    (a Compose returns a view in any case: it is per-sample when one of its parts is)."""
    if isinstance(d, Compose):
        return any(_per_sample(p, n) for p in d.domains)
    return d.select_rows(np.arange(n)) is not d


def _rows(m: int, n: int, who: str) -> np.ndarray:
    """The sample of each of ``m`` rows: the batch in order, the only layout that says which sample a row is."""
    if m != n:
        raise CdigValueError(
            f"{who} got {m} rows, but this domain's inverse differs per sample (e.g. the cepstrum's sign and delay) "
            f"and the attribution explains {n}: only the whole batch of {n} rows in order says which sample a row "
            f"is. Run the Quantus metric with CoefficientSpace.kwargs(), which sets batch_size={n}"
        )
    return np.arange(n)


def _baseline(real0: np.ndarray, m: int) -> np.ndarray:
    """The baseline coefficients of ``m`` rows: the attribution's, or its one shared baseline repeated."""
    if m == len(real0):
        return real0
    if np.all(real0 == real0[:1]):
        return np.broadcast_to(real0[:1], (m,) + real0.shape[1:]).copy()
    raise CdigValueError(
        f"explain_func got {m} rows, but the attribution explains {len(real0)} whose baseline coefficients differ: "
        f"give the whole batch in order (CoefficientSpace.kwargs() sets batch_size={len(real0)})"
    )


def _rule(settings: dict[str, Any], n_steps: Any) -> dict[str, Any]:
    """``n_steps`` and the rule (``method``, or ``rtol``/``max_steps`` for ``"auto"``) of the recorded explanation."""
    recorded = settings.get("n_steps", 50)
    steps = recorded if n_steps is None else n_steps
    if steps == "auto":
        return dict(n_steps="auto", rtol=settings.get("rtol") or 1e-3, max_steps=settings.get("max_steps") or 4096)
    method = settings.get("method", "gausslegendre") if recorded != "auto" else "gausslegendre"
    return dict(n_steps=int(steps), method=method)


def _coefficient_model(
    be: Any, model: Any, domain: Domain, layout: Any, shape: tuple, real_shape: tuple, is_complex: bool, n: int, per_sample: bool
) -> Any:
    """``model(inverse(z))`` on real coefficient arrays, as the backend's module (a ``torch.nn.Module``):
    ``rows`` is the sample of each row (per-sample domains). The model is a part of the module, handed to
    the forward function on every call, so a deep copy (Quantus' randomisation metrics) randomises the
    copy's weights and not the original's. Framework-free here: the backend wraps it."""
    xp = be.xp

    def forward(parts: list, z: Any, rows: Any = None) -> Any:
        m = int(z.shape[0])
        z = z.reshape((m,) + tuple(real_shape))
        if is_complex:
            half = real_shape[-1] // 2
            z = complex_from_parts(z[..., :half], z[..., half:], xp)
        z = z.reshape((m,) + tuple(shape))
        d = domain
        if per_sample:
            idx = _rows(m, n, "the coefficient model") if rows is None else be.to_numpy(rows).astype(np.int64).reshape(-1)
            d = domain.select_rows(idx)
        return parts[0](layout.from_canonical(d.inverse(z, xp), xp))

    return be.as_module(forward, [model])
