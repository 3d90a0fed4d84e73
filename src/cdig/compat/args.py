"""The reference's call signatures mapped onto cdig's: the one place that reads them.

The reference package has two sides whose constructors differ in their positional slots; code
written for either runs unchanged, so each slot is read here, once:

* ``CrossDomainIG(model, n_iterations, output_channel, device, dtype)``: the torch side, as written;
  ``CrossDomainIG(model, n_iterations, output_channel, dtype)``: the TensorFlow side, whose fourth
  slot is the dtype (a dtype in ``device``'s slot is read as ``dtype``); the same for ``TimeIG``,
  ``FourierIG`` and ``ICAIG(model, ica, n_iterations, output_channel, ...)``;
* ``DomainBase(device, dtype)`` (torch side) and ``DomainBase(dtype)`` (TensorFlow side), likewise;
  ``TimeDomain`` and ``FourierDomain`` start the same way;
* ``ICADomain(device, ica, dtype, channel_permutation)`` (torch side) and
  ``ICADomain(ica, dtype, channel_permutation)`` (TensorFlow side, one place to the left).

A domain takes the framework it is given (its explainer's), else that of its dtype, else the
default (:func:`cdig.compat.ops.default`: PyTorch first). Errors name the argument, the value and what is accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ..core.errors import CdigTypeError, CdigValueError
from ..core.rules import get_rule
from .ops import FrameworkOps, for_dtype, for_model
from .ops import default as default_ops

__all__ = ["DomainArgs", "ExplainerArgs", "domain_args", "ica_domain_args", "explainer_args"]


class DomainArgs(NamedTuple):
    """A :class:`DomainBase`'s framework, device and dtype (defaulted to the framework's float32)."""

    ops: FrameworkOps
    device: Any
    dtype: Any


class ExplainerArgs(NamedTuple):
    """A :class:`CrossDomainIG`'s settings as cdig reads them (``dtype`` defaulted to float32)."""

    ops: FrameworkOps
    n_iterations: int
    output_channel: int
    device: Any
    dtype: Any


def _dtype_in_device_slot(device: Any, dtype: Any, is_dtype: Any) -> tuple[Any, Any]:
    """The TensorFlow side has no ``device``: a dtype where the torch side has ``device`` is the dtype."""
    if device is not None and dtype is None and is_dtype(device):
        return None, device
    return device, dtype


def domain_args(device: Any = None, dtype: Any = None, ops: FrameworkOps | None = None) -> DomainArgs:
    """``DomainBase(device, dtype)`` or the TensorFlow side's ``DomainBase(dtype)``.

    Parameters
    ----------
    device, dtype : object
        As given to the domain.
    ops : FrameworkOps, optional
        The framework of the explainer building the domain; it wins over ``dtype`` (a dtype of
        another framework is reported by the explainer, which names both).

    Raises
    ------
    CdigTypeError
        When no explainer's framework is given and ``dtype`` belongs to no imported framework.

    Examples
    --------
    >>> import torch
    >>> domain_args(torch.float64)
    DomainArgs(ops=TorchOps(), device=None, dtype=torch.float64)
    >>> domain_args("cpu")
    DomainArgs(ops=TorchOps(), device='cpu', dtype=torch.float32)
    """
    device, dtype = _dtype_in_device_slot(device, dtype, lambda d: for_dtype(d) is not None)
    if ops is None and dtype is not None:
        ops = for_dtype(dtype)
        if ops is None:
            raise CdigTypeError(f"dtype={dtype!r} is not a dtype of an imported framework; pass a torch.dtype or a tf.DType")
    if ops is None:
        ops = default_ops()
    return DomainArgs(ops, device, dtype if dtype is not None else ops.default_dtype())


def ica_domain_args(
    device: Any = None, ica: Any = None, dtype: Any = None, channel_permutation: Sequence[int] = (0, 2, 1)
) -> tuple[Any, Any, Any, tuple[int, ...]]:
    """``ICADomain(device, ica, dtype, channel_permutation)`` or the TensorFlow side's
    ``ICADomain(ica, dtype, channel_permutation)``: ``(device, ica, dtype, channel_permutation)``.

    A fitted ICA (an object with ``transform``) in ``device``'s slot, with none in ``ica``'s, moves
    every argument one place to the right.

    Raises
    ------
    CdigTypeError
        When there is no ICA, or a list of them (the reference uses one for every sample).

    Examples
    --------
    >>> class Fitted:
    ...     def transform(self, x):
    ...         return x
    >>> ica = Fitted()
    >>> ica_domain_args(ica, "float32")[1:] == (ica, "float32", (0, 2, 1))
    True
    """
    if hasattr(device, "transform") and not hasattr(ica, "transform"):
        device, ica, dtype, channel_permutation = None, device, ica, (channel_permutation if dtype is None else dtype)
    if ica is None:
        raise CdigTypeError("ICADomain needs ica=<a fitted sklearn FastICA>; got None")
    if isinstance(ica, (list, tuple)):
        raise CdigTypeError(
            "ICADomain takes one fitted FastICA for every sample, as the reference does; for one ICA per "
            "sample use cdig.explain(model, x, [cdig.ICA(list_of_icas)], ...)"
        )
    return device, ica, dtype, tuple(channel_permutation)


def explainer_args(
    model: Any, n_iterations: Any, output_channel: Any = 0, device: Any = None, dtype: Any = None, method: str = "riemann_right"
) -> ExplainerArgs:
    """``CrossDomainIG(model, n_iterations, output_channel, device, dtype)`` or the TensorFlow side's
    ``(model, n_iterations, output_channel, dtype)``, checked.

    Raises
    ------
    CdigTypeError
        When no imported framework runs ``model``, ``dtype`` is not a dtype of the model's framework,
        or ``n_iterations`` is not an int.
    CdigValueError
        When ``n_iterations`` or ``method`` is not a rule cdig has, or ``output_channel`` is not an
        int >= 0.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(4, 2)
    >>> args = explainer_args(model, 10, 1, torch.float64)
    >>> args.device, args.dtype, args.ops.name
    (None, torch.float64, 'torch')
    """
    ops = for_model(model)
    device, dtype = _dtype_in_device_slot(device, dtype, ops.is_dtype)
    if dtype is not None and not ops.is_dtype(dtype):
        raise CdigTypeError(f"dtype={dtype!r} is not a {ops.name} dtype; the model runs on {ops.name}")
    try:
        get_rule(method, n_iterations)
    except (CdigValueError, CdigTypeError) as e:  # name the argument as the caller knows it
        raise type(e)(str(e).replace("n_steps", "n_iterations")) from None
    if isinstance(output_channel, bool) or not isinstance(output_channel, (int, np.integer)) or output_channel < 0:
        raise CdigValueError(f"output_channel={output_channel!r}: it must be an int >= 0 (an index of the model's outputs)")
    return ExplainerArgs(ops, int(n_iterations), int(output_channel), device, dtype if dtype is not None else ops.default_dtype())
