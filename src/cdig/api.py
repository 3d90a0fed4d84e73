"""The public entry points: :func:`explain` (many domains, one call) and :class:`CrossDomainIG` (Captum style).

The work itself is the engine's (:mod:`cdig.engine`): preparing the request and running it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backends.numpy import NumpyBackend
from .core.attribution import Attribution
from .core.checks import check_baseline, check_bool, check_steps
from .core.draws import References, check_references, check_stdevs, plan_draws
from .core.errors import CdigTypeError, CdigValueError
from .core.memory import parse_bytes
from .core.rules import PERTURBATION_METHODS, get_rule
from .domains import Domain, resolve
from .engine import array_type_of, check_batch_size, prepare, split_baselines, to_host

__all__ = ["explain", "CrossDomainIG", "References"]


def explain(
    model: Any,
    x: Any,
    domains: Any = ("time", "fourier"),
    *,
    target: Any = None,
    baselines: Any = None,
    n_steps: int | str = 50,
    method: str = "gausslegendre",
    internal_batch_size: int | str | None = None,
    time_axis: int | None = None,
    fs: float | None = None,
    additional_forward_args: Any = None,
    multiply_by_inputs: bool = True,
    rtol: float = 1e-3,
    max_steps: int = 4096,
    backend: str | None = None,
    progress: bool = False,
    memory_budget: int | str | None = None,
    output: Any = None,
    n_samples: int | None = None,
    seed: int = 0,
    stdevs: float = 0.0,
    groups: Any = None,
) -> dict[str, Attribution]:
    """Attributions of ``model`` at ``x`` in one or more domains: Integrated Gradients, or a perturbation method.

    Parameters
    ----------
    model : callable
        The model, e.g. a ``torch.nn.Module``, a Keras model, a flax.nnx module or a function;
        ``model(x, *args, **keywords)`` (see ``additional_forward_args``) must return a batch of outputs,
        or a structure of them (see ``output``). A module in training mode is explained in eval mode and
        put back (a :class:`CdigWarning`); a model whose output for a sample depends on the rest of the
        batch (BatchNorm or dropout in training mode behind a function) is refused. A wrapper (a skorch
        or braindecode net, an aeon deep learner, a fastai/tsai ``Learner``) is replaced by the network it
        holds, noted in ``settings["model_unwrapped"]`` (see :func:`cdig.wrappers.unwrap_model`).
    x : array or tensor
        The batch, ``(N, C, T)`` / ``(N, T, C)`` or ``(N, T)``; numpy or the model's framework
        (any device: the work runs on the model's device).
    domains : str, Domain or sequence of them
        Names (``"time"``, ``"fourier"``, ``"ica"``, ``"dct"``, ``"wavelet"``, ``"magphase"``,
        ``"cepstrum"``) or :class:`cdig.Domain` objects (e.g. ``cdig.STFT(64)``,
        ``cdig.FrequencyBands(fs=...)``, ``cdig.TrendSeason(period)``, ``cdig.LinearBasis(pca)``).
        All linear domains whose path is the same share one batched pass of gradients.
    target : None, int, sequence of int, tuple, sequence of tuples, (N, k) int array, or callable
        The explained output: None for one scalar per sample, an output index (same for all or one
        per sample), a tuple index into multi-dimensional outputs (e.g. ``(horizon, channel)``), one
        such tuple per sample (a list of tuples or an ``(N, k)`` int array), or a callable mapping the
        output batch to one scalar per row (it receives the raw output when ``output`` is None).
    baselines : None, scalar, array, dict or References
        The time-domain baseline (None: the zero signal; a scalar; an array broadcastable to ``x``),
        or a dict ``{domain name: baseline coefficients}`` in that domain's canonical layout
        (e.g. complex rFFT bins ``(N, C, F)`` for ``"fourier"``); domains not named use zeros. Or a
        distribution: :class:`cdig.References` ``(samples, draw="paths"|"points")``, reference signals to
        draw baselines from (expected gradients; see :mod:`cdig.core.draws` for the completeness
        identity of each), ``n_samples`` draws per sample. With a perturbation method, a background
        set: every reference is a baseline in turn and the values are averaged (see
        :func:`cdig.perturb.attribute`).
    n_steps : int or "auto"
        Points of the fixed rule, or ``"auto"``: adaptive integration per sample (Gauss–Kronrod, and
        nested trapezoids where the gradient is piecewise constant), until
        both the map's estimated relative L2 error (in every requested domain) is at most ``rtol``
        and ``|delta| <= rtol·|f(x) - f(baseline)|``, or ``max_steps`` gradient evaluations are
        spent (see :func:`cdig.core.path.integrate_adaptive`). The estimate is returned as
        :attr:`cdig.Attribution.error_estimate`. A fixed rule takes at most 100,000 points
        (Gauss–Legendre 10,000: its nodes cost O(n²) to compute); see :func:`cdig.core.checks.check_steps`.
    method : str
        Integrated Gradients with a fixed rule: ``"gausslegendre"`` (default), ``"riemann_left"``,
        ``"riemann_right"``, ``"riemann_middle"`` or ``"riemann_trapezoid"`` (ignored when
        ``n_steps="auto"``). Or a perturbation method, for models without gradients (any callable, a
        numpy function included): ``"shapley"``, ``"occlusion"`` or ``"rise"`` over groups of each
        domain's coefficients — see :func:`cdig.perturb.attribute`, which this calls once per domain
        (``n_steps``, ``rtol`` and ``max_steps`` are then not used).
    internal_batch_size : int, "auto" or None
        Path points per forward/backward pass; memory depends on it, not on ``n_steps``. Default:
        as many as fit ``2**24`` input elements. ``"auto"``: as many as fit ``memory_budget``, from
        the measured cost of one more path point (see :mod:`cdig.core.memory`).
    time_axis : int, optional
        Axis of ``x`` holding time. Default: the framework's convention — ``-1`` for PyTorch
        ``(N, C, T)``, ``1`` for TensorFlow/Keras and JAX ``(N, T, C)`` (channels last); 2-D input is
        always ``(N, T)``. Where a PyTorch model suggests a channels-last input (a first ``Conv1d`` or
        batch-first RNN reading the last axis as channels, a Hugging Face ``context_length``, or a last
        axis shorter than axis 1), a :class:`CdigWarning` asks for ``time_axis``.
    fs : float, optional
        Sampling rate: coordinates in s and Hz instead of samples and cycles/sample.
    additional_forward_args : object, tuple, dict or tuple ending in a dict, optional
        Extra model arguments: a tuple is positional, a dict is keywords (e.g. Hugging Face's
        ``{"past_observed_mask": mask}``), a tuple ending in a dict both (end with ``{}`` to pass a dict
        positionally). Arrays whose first axis has ``N`` entries, positional or keyword, are split with the
        batch and repeated along the path.
    multiply_by_inputs : bool
        False returns the path-integrated gradients ``∫∂g/∂z`` (complex for complex coefficients)
        instead of the attributions; ``delta`` still refers to the attributions.
    rtol, max_steps : float, int
        Tolerance (of the map and of its sum) and per-sample budget of ``n_steps="auto"``
        (``max_steps`` from 15 to 100,000).
    backend : str, optional
        ``"torch"``; detected from the model and input when omitted.
    progress : bool
        Show a progress bar (tqdm when installed).
    output : None, str, int or callable
        The tensor explained when the model returns a structure (a Hugging Face ``ModelOutput``, a dict,
        a tuple or list): None, its first tensor (a ``ModelOutput``'s first field: the logits or
        prediction when no loss is computed); a key (``"prediction_logits"``); an index; or a callable
        ``output(raw) -> tensor``. Recorded in ``settings["output"]``, and the field the default
        picked in ``settings["output_selected"]``. A callable ``target`` with ``output=None`` receives the
        raw output.
    memory_budget : int or str, optional
        Bytes (or ``"512MiB"``, ``"2GB"``...) an ``internal_batch_size="auto"`` run may use; default
        half the memory the device reports free (GPU memory on a GPU, else the host's available RAM).
        The budget covers everything the call allocates above what was in use before it: the chunk
        of path points (PyTorch measures it with a probe that itself stays inside the budget; other
        frameworks estimate it from the input size), the per-sample
        accumulators and domain transforms, and the adaptive rule's stored gradients. A budget too
        small even for the samples' own copies is refused before the model runs, naming the smallest
        budget that would do. The size chosen is recorded in ``settings["internal_batch_size_used"]``.

    n_samples : int, optional
        Draws of whatever is random: with a baseline distribution or noise, draws per sample (default
        :data:`cdig.core.draws.DEFAULT_DRAWS`, or every reference when there are no more); for
        ``method="shapley"`` sampled permutations, for ``"rise"`` masks. Refused where nothing is drawn.
    seed : int
        Seed of every draw (references, noise, permutations, masks): a call is reproducible.
    stdevs : float
        Standard deviation of Gaussian noise added to ``x`` in the time domain (in ``x``'s units), ``n_samples``
        times per sample, the maps averaged: SmoothGrad on Integrated Gradients (Captum's ``NoiseTunnel``).
        The map then sums to ``mean f(x + noise) - f(baseline)``: ``output`` reports that mean. 0: no noise.
    groups : None, array of int, or dict
        Perturbation methods only: the groups of coefficients perturbed together (see
        :func:`cdig.perturb.attribute`); a dict ``{domain name: labels}`` for several domains.

    Returns
    -------
    dict of str to Attribution
        One :class:`cdig.Attribution` per domain, keyed by the domain's name. Maps are laid out as
        ``(N, C, ...)``: the time axis is replaced by the domain's axes (channels dropped for 2-D input).

    Raises
    ------
    CdigValueError, CdigTypeError, CdigModelError
        For bad input; each message names the argument, the value and what is accepted.

    Warns
    -----
    ConvergenceWarning
        A fixed rule left ``|delta|`` above 1% of ``|f(x) - f(baseline)|``, or ``"auto"`` ran out of budget.

    Examples
    --------
    >>> import torch, cdig
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 5), torch.nn.Tanh(), torch.nn.Flatten(),
    ...                             torch.nn.Linear(4 * 60, 3))
    >>> x = torch.randn(8, 2, 64)
    >>> maps = cdig.explain(model, x, domains=("time", "fourier"), target=1, fs=32.0)
    >>> maps["fourier"].values.shape, maps["fourier"].units["frequency"]
    ((8, 2, 33), 'Hz')
    >>> bool(abs(maps["fourier"].delta).max() < 1e-4)
    True
    """
    if isinstance(method, str) and method in PERTURBATION_METHODS:
        return _perturbation(
            model, x, domains, method, target, baselines, n_samples, seed, stdevs, groups, internal_batch_size, time_axis,
            fs, additional_forward_args, multiply_by_inputs, backend, progress, memory_budget, output,
        )  # fmt: skip
    if groups is not None:
        raise CdigValueError(
            f"groups= gives the groups a perturbation method perturbs together; method={method!r} is Integrated Gradients, "
            f"which attributes every coefficient: pass method= one of {list(PERTURBATION_METHODS)}, or leave groups None"
        )
    check_steps(n_steps, method, rtol, max_steps)
    check_bool(progress, "progress")
    stdevs = check_stdevs(stdevs)
    distribution = isinstance(baselines, References) or stdevs > 0
    if not distribution and n_samples is not None:
        raise CdigValueError(
            f"n_samples={n_samples!r} counts draws, but this call draws nothing: one baseline and no noise. Pass "
            "baselines=cdig.References(samples) or stdevs > 0 to average over draws, or a sampled method "
            "(method='shapley' or 'rise')"
        )
    if isinstance(baselines, References) and baselines.draw == "points" and n_steps == "auto":
        raise CdigValueError(
            "n_steps='auto' integrates each path adaptively, but References(draw='points') takes one random point per "
            "draw (n_samples of them): use draw='paths' for adaptive integration, or leave n_steps"
        )
    if not isinstance(n_steps, str):
        get_rule(method, n_steps)  # validates n_steps against the rule
    auto = check_batch_size(internal_batch_size, memory_budget)
    fixed_batch = None if auto or isinstance(internal_batch_size, str) else internal_batch_size
    budget = (parse_bytes(memory_budget) if memory_budget is not None else -1) if auto else None
    s = prepare(
        model,
        x,
        target=target,
        time_axis=time_axis,
        additional_forward_args=additional_forward_args,
        internal_batch_size=fixed_batch,
        backend=backend,
        n_steps=n_steps,
        method=method,
        rtol=rtol,
        max_steps=max_steps,
        progress=progress,
        auto_budget=budget,
        output=output,
    )
    be, xb, xn, layout, run = s.be, s.xb, s.xn, s.layout, s.run
    if isinstance(be, NumpyBackend):  # before any model call: a numpy function has no gradients
        raise be.no_gradients()
    if fs is not None and (isinstance(fs, bool) or not isinstance(fs, (int, float, np.number)) or not 0 < fs < np.inf):
        raise CdigValueError(f"fs={fs!r}: the sampling rate must be a positive finite number (in Hz), or None")
    check_bool(multiply_by_inputs, "multiply_by_inputs")
    doms = resolve(domains)
    references = None
    coef_bases: dict[str, Any] = {}
    if isinstance(baselines, References):
        references = check_references(np.asarray(to_host(baselines.samples, be)), xn.shape)
        time_base = None
    else:
        time_base, coef_bases = split_baselines(baselines, [d.name for d in doms])
        if coef_bases and distribution:
            raise CdigValueError(
                "baselines given per domain (a dict) cannot be combined with stdevs > 0; give a time-domain baseline"
            )
    if isinstance(time_base, (list, tuple)):
        try:
            np.asarray(time_base)
        except ValueError:
            raise CdigTypeError(
                "baselines is a ragged list (its rows have different lengths); accepted: None, a scalar, or an "
                "array broadcastable to the input"
            ) from None
    x0n = check_baseline(to_host(time_base, be), xn.shape, xn.dtype)
    draws = plan_draws(baselines, stdevs, n_samples, seed, xn, x0n, references) if distribution else None
    if draws is not None and references is not None:
        x0n = draws.x0[:: draws.m]  # the first draw of each sample: for the checks of the model
    x0b = be.asarray(x0n)
    tgt = run.target
    settings = {
        "method": "gausskronrod_adaptive" if n_steps == "auto" else method,
        "n_steps": n_steps,
        "rtol": rtol if n_steps == "auto" else None,
        "max_steps": max_steps if n_steps == "auto" else None,
        "internal_batch_size": internal_batch_size,
        "internal_batch_size_used": None,
        "multiply_by_inputs": multiply_by_inputs,
        "backend": be.name,
        "device": be.device_name(),
        "time_axis": layout.time_axis,
        "input_shape": list(xn.shape),
        "fs": fs,
        **s.notes,
    }
    with be.prepared():
        return run.explain_all(doms, xb, x0b, xn, layout, coef_bases, fs, multiply_by_inputs, settings, tgt, draws)


def _perturbation(
    model: Any,
    x: Any,
    domains: Any,
    method: str,
    target: Any,
    baselines: Any,
    n_samples: int | None,
    seed: int,
    stdevs: Any,
    groups: Any,
    internal_batch_size: Any,
    time_axis: int | None,
    fs: float | None,
    additional_forward_args: Any,
    multiply_by_inputs: Any,
    backend: str | None,
    progress: bool,
    memory_budget: Any,
    output: Any,
) -> dict[str, Attribution]:
    """:func:`explain` with a perturbation method: :func:`cdig.perturb.attribute` once per domain."""
    from .perturb import attribute

    if multiply_by_inputs is not True:
        raise CdigValueError(
            f"multiply_by_inputs={multiply_by_inputs!r} returns Integrated Gradients' path-integrated gradients; "
            f"method={method!r} has no gradients: leave it True"
        )
    if not isinstance(stdevs, bool) and stdevs != 0:
        raise CdigValueError(
            f"method={method!r} perturbs the input's own coefficients; noise (stdevs) averages Integrated Gradients "
            "over noisy copies: leave stdevs at 0, or use IG (a background set is baselines=cdig.References(samples))"
        )
    doms = resolve(domains)
    names = [d.name for d in doms]
    if isinstance(groups, dict):
        unknown = [k for k in groups if k not in names]
        if unknown:
            raise CdigValueError(f"groups names domain(s) {unknown} that are not explained; the keys must be among {names}")
    elif groups is not None and len(doms) > 1:
        raise CdigValueError(
            f"groups= is one array of labels, but {len(doms)} domains are explained, each with its own coefficients: "
            "pass a dict {domain name: labels}"
        )
    extra: dict[str, Any] = {}
    if memory_budget is not None:
        extra["memory_budget"] = memory_budget
    if progress:
        extra["progress"] = progress
    out = {}
    for d in doms:
        g = groups.get(d.name) if isinstance(groups, dict) else groups
        base = {d.name: baselines[d.name]} if isinstance(baselines, dict) and d.name in baselines else baselines
        if isinstance(baselines, dict) and d.name not in baselines:
            base = None
        out[d.name] = attribute(
            model, x, d, method=method, target=target, baselines=base, groups=g, n_samples=n_samples, seed=seed,
            time_axis=time_axis, fs=fs, additional_forward_args=additional_forward_args,
            internal_batch_size=internal_batch_size, backend=backend, output=output, **extra,
        )  # fmt: skip
    return out


class CrossDomainIG:
    """Captum-style Integrated Gradients in one domain.

    Parameters
    ----------
    forward_func : callable
        The model.
    domain : str or Domain
        ``"time"`` (Captum's IntegratedGradients), ``"fourier"``, ``"ica"`` or a Domain object.
    multiply_by_inputs : bool
        Multiply the integrated gradients by ``z - z0`` (attributions) or not.
    time_axis, fs, backend, output :
        As in :func:`cdig.explain`.

    Notes
    -----
    :meth:`attribute` returns maps in the input's own layout in the time domain, like Captum (an
    ``(N, T, C)`` input with ``time_axis=1`` gives ``(N, T, C)`` maps); in other domains, the domain's
    layout ``(N, C, ...)`` with the time axis replaced by the domain's axes (``attribution_.dims`` names them).

    Examples
    --------
    >>> import torch, cdig
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 2))
    >>> ig = cdig.CrossDomainIG(model, "fourier")
    >>> attr, delta = ig.attribute(torch.randn(4, 1, 32), target=0, return_convergence_delta=True)
    >>> tuple(attr.shape), bool(delta.abs().max() < 1e-4)
    ((4, 1, 17), True)
    """

    def __init__(
        self,
        forward_func: Any,
        domain: str | Domain = "time",
        multiply_by_inputs: bool = True,
        *,
        time_axis: int | None = None,
        fs: float | None = None,
        backend: str | None = None,
        output: Any = None,
    ) -> None:
        self.forward_func = forward_func
        self.output = output
        if isinstance(domain, (list, tuple)):
            raise CdigTypeError("CrossDomainIG explains one domain; use cdig.explain for several")
        self.domain: Domain = resolve(domain)[0]
        self._multiply = multiply_by_inputs
        self.time_axis, self.fs, self.backend = time_axis, fs, backend
        self.attribution_: Attribution | None = None

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply

    def has_convergence_delta(self) -> bool:
        return True

    def attribute(
        self,
        inputs: Any,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        n_steps: int | str = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | str | None = None,
        return_convergence_delta: bool = False,
        *,
        rtol: float = 1e-3,
        max_steps: int = 4096,
        memory_budget: int | str | None = None,
    ) -> Any:
        """Attributions of ``inputs`` (and the per-sample delta on request), in the input's array type.

        The full :class:`cdig.Attribution` (coordinates, outputs, steps) is kept in ``attribution_``.
        """
        a = explain(
            self.forward_func,
            inputs,
            [self.domain],
            target=target,
            baselines=baselines,
            n_steps=n_steps,
            method=method,
            internal_batch_size=internal_batch_size,
            time_axis=self.time_axis,
            fs=self.fs,
            additional_forward_args=additional_forward_args,
            multiply_by_inputs=self._multiply,
            rtol=rtol,
            max_steps=max_steps,
            backend=self.backend,
            memory_budget=memory_budget,
            output=self.output,
        )
        self.attribution_ = att = a[self.domain.name]
        values = att.values
        axis = att.settings.get("time_axis")
        if self.domain.name == "time" and values.ndim == 3 and axis == 1:
            values = np.moveaxis(values, -1, 1)  # Captum's contract: the input's own layout
        out_type = array_type_of(inputs)
        if out_type is None:
            return (values, att.delta) if return_convergence_delta else values
        vals = out_type.like(np.ascontiguousarray(values), inputs)
        return (vals, out_type.like(att.delta, inputs)) if return_convergence_delta else vals
