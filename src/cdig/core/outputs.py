"""How the model is called and which part of its output is explained, in one place.

Models return more than one tensor: Hugging Face models a ``ModelOutput`` (an ordered dict whose first
entry is the logits or prediction when no loss is computed), Keras multi-output models dicts or lists,
others tuples. :class:`ModelCall` calls ``model(x, *positional, **keywords)`` and picks the tensor to
explain (``output=``: a key, an index or a callable; by default the first tensor). It is framework-free:
the backend tells it what a tensor is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import CdigModelError, CdigTypeError

__all__ = ["ModelCall", "check_output_selector", "split_forward_args", "describe_structure"]


def check_output_selector(output: Any) -> None:
    """``output=``: None, a key (str), an index (int) or a callable."""
    if output is None or callable(output) or isinstance(output, str):
        return
    if isinstance(output, int) and not isinstance(output, bool):
        return
    raise CdigTypeError(
        f"output={output!r} ({type(output).__name__}) cannot select a model output; accepted: None (the first "
        "tensor), a key such as 'logits', an index such as 0, or a callable such as lambda out: out.logits"
    )


def split_forward_args(extra: Any) -> tuple[tuple, dict[str, Any]]:
    """``additional_forward_args`` as (positional, keywords).

    A dict is keyword arguments; a tuple whose last element is a dict is positional arguments then
    keywords (end a tuple with ``{}`` to pass a dict positionally); anything else is one positional
    argument (a tuple: several).

    Examples
    --------
    >>> split_forward_args({"past_observed_mask": 1})
    ((), {'past_observed_mask': 1})
    >>> split_forward_args((2, {"mask": 1}))
    ((2,), {'mask': 1})
    >>> split_forward_args(3)
    ((3,), {})
    """
    if extra is None:
        return (), {}
    if isinstance(extra, Mapping):
        pos: tuple = ()
        kw = extra
    elif isinstance(extra, tuple) and extra and isinstance(extra[-1], Mapping):
        pos, kw = extra[:-1], extra[-1]
    else:
        return (extra if isinstance(extra, tuple) else (extra,)), {}
    bad = [k for k in kw if not isinstance(k, str) or not k.isidentifier()]
    if bad:
        raise CdigTypeError(
            f"additional_forward_args has a dict of keyword arguments with key(s) {bad[:3]!r} that are not "
            "argument names; its keys must be the model's parameter names (str)"
        )
    return tuple(pos), dict(kw)


def _entries(out: Any) -> list[tuple[str, Any]] | None:
    """The named entries of a structured output (ModelOutput, dict, tuple, list), or None for a leaf."""
    if isinstance(out, Mapping):
        return [(str(k), v) for k, v in out.items()]
    if isinstance(out, (tuple, list)):
        return [(str(i), v) for i, v in enumerate(out)]
    return None


def describe_structure(out: Any, is_array: Callable[[Any], bool], depth: int = 0) -> str:
    """A one-line summary of a model output: its type and, for structures, each entry's shape."""
    if is_array(out):
        return f"shape {tuple(out.shape)}"
    entries = _entries(out)
    if entries is None or depth > 1:
        return type(out).__name__
    inner = ", ".join(f"{k}: {describe_structure(v, is_array, depth + 1)}" for k, v in entries[:12])
    more = ", ..." if len(entries) > 12 else ""
    return f"{type(out).__name__}({inner}{more})"


def _first_array(out: Any, is_array: Callable[[Any], bool]) -> tuple[str, Any] | None:
    """Depth-first, the first tensor of a structure and its path (``"prediction_logits"``, ``"params[1]"``)."""
    if is_array(out):
        return "", out
    entries = _entries(out)
    for k, v in entries or ():
        found = _first_array(v, is_array)
        if found is not None:
            path, t = found
            key = k if isinstance(out, Mapping) else f"[{k}]"
            return (key + (path if path.startswith("[") else ("." + path if path else ""))), t
    return None


@dataclass(frozen=True)
class ModelCall:
    """``model(x, *args, **keywords)`` and the output tensor to explain.

    Parameters
    ----------
    keywords : tuple of str
        Names of the keyword arguments, which come last in the ``args`` tuple handed to :meth:`__call__`
        (so that per-sample tensors among them are split and expanded along the path like positional ones).
    output : None, str, int or callable
        Which tensor of a structured output is explained: None, the first tensor (depth-first: a Hugging
        Face ``ModelOutput``'s first field, the logits or prediction when no loss is computed); a key
        (dict key or attribute); an index (tuples, lists, and a ModelOutput's fields in order); or a
        callable ``output(raw) -> tensor``.
    raw : bool
        Hand the raw output on unchanged (a callable ``target`` with ``output=None`` sees it).

    Examples
    --------
    >>> import numpy as np
    >>> call = ModelCall(keywords=("scale",), output="y")
    >>> model = lambda x, scale: {"loss": None, "y": scale * x}
    >>> call(model, np.ones(2), (3.0,), lambda a: isinstance(a, np.ndarray))
    array([3., 3.])
    """

    keywords: tuple[str, ...] = ()
    output: Any = None
    raw: bool = False
    #: What the last selection found in a structured output: ``"path"`` (where the default found its
    #: tensor) and ``"structure"`` (a summary of the output), for ``settings`` and error messages.
    found: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def trivial(self) -> bool:
        """``model(x, *args)`` as it is, its output a tensor (or the first tensor of a structure)."""
        return not self.keywords and self.output is None and not self.raw

    def shown(self) -> str:
        """The selector as a message shows it: ``'logits'``, ``1``, ``<callable <lambda>>``."""
        d = self.describe()
        return d if callable(self.output) else repr(d)

    def describe(self) -> Any:
        """JSON-friendly: the ``output`` selector as given (a callable as ``"<callable NAME>"``)."""
        if callable(self.output):
            return f"<callable {getattr(self.output, '__name__', type(self.output).__name__)}>"
        return self.output

    def __call__(self, model: Any, inputs: Any, args: Sequence[Any], is_array: Callable[[Any], bool]) -> Any:
        k = len(self.keywords)
        if k:
            out = model(inputs, *args[: len(args) - k], **dict(zip(self.keywords, args[len(args) - k :])))
        else:
            out = model(inputs, *args)
        return out if self.raw else self.select(out, is_array)

    def select(self, out: Any, is_array: Callable[[Any], bool]) -> Any:
        """The tensor to explain in the model's output ``out``."""
        sel = self.output
        if is_array(out) and sel is None:
            return out
        if _entries(out) is None and not is_array(out) and not callable(sel):
            raise CdigModelError(
                f"the model returned {type(out).__module__.split('.')[0]} {type(out).__name__}, not a tensor of its "
                "framework (a tensor has a gradient, which cdig needs): it must return a batch of outputs as a tensor, "
                "or a structure holding them (a dict, tuple or ModelOutput; see output=)"
            )
        self.found["structure"] = describe_structure(out, is_array)
        if sel is None:
            found = _first_array(out, is_array)
            if found is None:
                raise CdigModelError(
                    f"the model returned {describe_structure(out, is_array)}, which holds no tensor to explain; "
                    "pass output= (a key, an index or a callable returning the tensor)"
                )
            self.found["path"] = found[0]
            return found[1]
        if callable(sel):
            picked = sel(out)
        elif isinstance(sel, str):
            if isinstance(out, Mapping) and sel in out:
                picked = out[sel]
            elif not isinstance(out, (Mapping, tuple, list)) and hasattr(out, sel):
                picked = getattr(out, sel)
            else:
                raise CdigModelError(
                    f"output={sel!r} is not in the model's output {describe_structure(out, is_array)}; pass one of its "
                    "keys, an index or a callable"
                )
        else:
            entries = _entries(out)
            if entries is None or not -len(entries) <= sel < len(entries):
                raise CdigModelError(
                    f"output={sel!r} does not index the model's output {describe_structure(out, is_array)}; pass an "
                    "index of one of its entries, a key or a callable"
                )
            picked = entries[sel][1]
        if not is_array(picked):
            raise CdigModelError(
                f"output={self.shown()} selects {describe_structure(picked, is_array)} from the model's output, not "
                "a tensor; select one tensor (e.g. output=lambda out: out.params[1])"
            )
        return picked
