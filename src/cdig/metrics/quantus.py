"""Run Quantus metrics on coefficient-space data: the model seen as ``model ∘ inverse`` (``pip install quantus``).

Quantus perturbs the features it is given and asks the model again. Hand it a domain's coefficients
instead of the signal, and a model that maps coefficients back through the domain's inverse first,
and every Quantus metric (faithfulness, robustness, randomisation, complexity...) measures the map
in that domain. :func:`coefficient_space` builds the pieces:

* ``model``: a ``torch.nn.Module`` on real coefficient arrays (complex coefficients as their real
  parts followed by their imaginary parts along the last axis: ``(N, C, 2F)`` for an rFFT);
* ``x_batch``: the input's coefficients in that real layout; ``y_batch``: the target per sample;
* ``a_batch``: the map per real coefficient — cross-domain IG *is* IG of that model in its input, so
  it is computed exactly that way (real and imaginary parts get their own scores, which add up to
  the attribution's value per complex coefficient);
* ``explain_func``: the same explanation for any batch of coefficients, for metrics that
  re-explain (e.g. ``quantus.MaxSensitivity``).

Only PyTorch models are supported (Quantus' own model wrappers are for PyTorch and TensorFlow, and
the coefficient model must be differentiable for ``a_batch``), for domains that report one value per
coefficient (not ICA or bands, whose values merge many coefficients).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import CdigTypeError, CdigValueError
from ._common import recorded_target, setup

__all__ = ["CoefficientSpace", "coefficient_space"]


@dataclass
class CoefficientSpace:
    """What a Quantus metric needs, in a domain's coefficients. ``kwargs()`` gives the call's keywords."""

    model: Any
    x_batch: np.ndarray
    y_batch: np.ndarray
    a_batch: np.ndarray
    explain_func: Any
    explain_func_kwargs: dict[str, Any] = field(default_factory=dict)
    complex_coefficients: bool = False

    def kwargs(self) -> dict[str, Any]:
        """``model``, ``x_batch``, ``y_batch``, ``a_batch``, ``explain_func``, ``explain_func_kwargs``,
        ``channel_first=True`` and ``device`` for a Quantus metric's ``__call__``."""
        import torch  # noqa: F401 - Quantus needs it anyway; the device string comes from the model

        device = next((str(p.device) for p in self.model.parameters()), "cpu")
        return dict(model=self.model, x_batch=self.x_batch, y_batch=self.y_batch, a_batch=self.a_batch,
                    explain_func=self.explain_func, explain_func_kwargs=self.explain_func_kwargs,
                    channel_first=True, device=device)

    def merge(self, a: np.ndarray) -> np.ndarray:
        """Scores per real coefficient back to one per (complex) coefficient: real part + imaginary part."""
        if not self.complex_coefficients:
            return a
        half = a.shape[-1] // 2
        return a[..., :half] + a[..., half:]


def coefficient_space(model: Any, x: Any, attribution: Any, *, target: Any = None, domain: Any = None,
                      time_axis: int | None = None, n_steps: int | None = None) -> CoefficientSpace:
    """The pieces to run a Quantus metric on ``attribution``'s domain (see the module docstring).

    Parameters
    ----------
    model, x, attribution :
        As given to and returned by :func:`cdig.explain` (a PyTorch model).
    target : optional
        Default: the attribution's (an output index, or one per sample).
    domain : Domain, optional
        The fitted domain, for an Attribution read from a file.
    n_steps : int, optional
        Gauss–Legendre points of ``a_batch`` and ``explain_func``; default: the attribution's.

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
    """
    s = setup(model, x, attribution, domain=domain, target=target, time_axis=time_axis,
              additional_forward_args=None, internal_batch_size=None, backend=None)
    be, att, d = s.prep.be, s.att, s.domain
    if be.name != "torch":
        raise CdigTypeError(f"the Quantus adapter takes PyTorch models; this one runs on {be.name}")
    if s.n_units != s.z[0].size:
        raise CdigValueError(
            f"the {att.domain!r} map merges coefficients ({s.z[0].size} coefficients, {s.n_units} values); "
            "Quantus needs one score per feature: use a domain with one value per coefficient"
        )
    is_complex = np.iscomplexobj(s.z)
    layout, xp = s.prep.layout, be.xp
    half = s.z.shape[-1]

    def forward(zr: Any) -> Any:
        z = zr[..., :half] + 1j * zr[..., half:] if is_complex else zr
        return model(layout.from_canonical(d.inverse(z, xp), xp))

    module = be.as_module(forward, [model])
    real = _real_view(s.z, is_complex)
    real0 = _real_view(s.z0, is_complex)
    tgt = recorded_target(att, target)
    if tgt is None:
        raise CdigValueError("Quantus needs a class index per sample: pass target=")
    y = np.broadcast_to(np.asarray(tgt), (len(real),)).astype(np.int64).copy()
    steps = n_steps if n_steps is not None else att.settings.get("n_steps", 50)
    steps = 50 if steps == "auto" else int(steps)

    def explain_func(model: Any, inputs: Any, targets: Any, **kwargs: Any) -> np.ndarray:
        """Cross-domain IG of ``model`` (the coefficient model) at ``inputs`` (real coefficients)."""
        from ..api import explain

        inputs = np.asarray(inputs, dtype=real.dtype)
        base = real0 if inputs.shape == real0.shape else np.zeros_like(inputs)
        tg = np.asarray(targets).reshape(-1).tolist()
        out = explain(model, inputs, "time", target=tg if len(tg) > 1 else tg[0], baselines=base,
                      n_steps=kwargs.get("n_steps", steps), time_axis=-1)["time"]
        return out.values.reshape(inputs.shape)

    a = explain_func(module, real, y)
    return CoefficientSpace(module, real, y, a, explain_func, {"n_steps": steps}, is_complex)


def _real_view(z: np.ndarray, is_complex: bool) -> np.ndarray:
    return np.concatenate([z.real, z.imag], axis=-1) if is_complex else np.asarray(z)
