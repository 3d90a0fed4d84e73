"""Perturbation attributions in a domain: occlusion, Shapley values and RISE masks of groups of coefficients.

The second family of attribution methods beside the path integral (see :class:`cdig.engine.Run`): the
same preparation (:func:`cdig.engine.prepare`: backend, layout, target, chunk size), the domains'
``forward`` and ``inverse`` to perturb coefficients, and the same :class:`~cdig.Attribution`. It needs
no gradients, so any callable ``f(x) -> outputs`` can be explained: a PyTorch, TensorFlow or JAX
model, and a plain numpy function (an scikit-learn pipeline's ``predict_proba``), which runs on numpy
arrays without any framework.

A *player* is a group of coefficients (default: everything one reported value of the domain stands for:
a Fourier bin's real and imaginary parts, a band, a wavelet coefficient). A coalition ``S`` of players is
the signal whose coefficients are the input's on ``S`` and the baseline's elsewhere, inverted to the time
domain; ``v(S)`` is the explained output there. The methods (:data:`METHODS`) differ in the coalitions
they evaluate and how they weigh them:

* ``"occlusion"``: ``v(all) - v(all but g)``, ``G + 2`` evaluations per sample;
* ``"shapley"``: the Shapley value, exact from all ``2**G`` coalitions up to :data:`MAX_EXACT_GROUPS`
  groups, else estimated from antithetic pairs of permutations;
* ``"rise"``: random masks (each group kept with ``keep_probability``), FreqRISE generalised to every
  domain: the mean output over the masks that keep ``g`` minus the mean over those that drop it.

The perturbed signals are run in chunks of ``internal_batch_size`` rows, or as many as fit a memory
budget (``internal_batch_size="auto"``, see :func:`plan_rows`); a coalition's mask over the
coefficients exists only for the rows of one chunk, however many coalitions there are.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ._progress import Progress
from .backends.base import Backend
from .backends.numpy import NumpyBackend
from .core.attribution import Attribution
from .core.checks import Layout, check_baseline, check_bool, check_choice, check_int, check_positive_int, check_real
from .core.draws import Draws, References, check_references, combine, plan_draws
from .core.errors import CdigModelError, CdigTypeError, CdigValueError
from .core.memory import CALIBRATE_FACTOR, DEFAULT_FRACTION, format_bytes, parse_bytes
from .core.rules import PERTURBATION_METHODS
from .domains import Domain, resolve

__all__ = [
    "attribute",
    "plan_rows",
    "NumpyBackend",
    "METHODS",
    "MAX_EXACT_GROUPS",
    "DEFAULT_PERMUTATIONS",
    "DEFAULT_MASKS",
    "FORWARD_FACTOR",
    "INPUT_COPIES",
]

#: The perturbation methods :func:`attribute` computes (those :func:`cdig.explain` routes here).
METHODS = PERTURBATION_METHODS
#: Exact Shapley values (all ``2**G`` coalitions) up to this many groups; permutation sampling beyond.
MAX_EXACT_GROUPS = 14
#: Permutations sampled (in antithetic pairs) when the Shapley values are estimated and ``n_samples`` is None.
DEFAULT_PERMUTATIONS = 64
#: Random masks drawn by ``method="rise"`` when ``n_samples`` is None.
DEFAULT_MASKS = 1000
#: ``internal_batch_size="auto"``: a model's forward pass (no gradients) is assumed to need this many
#: times its input row's bytes (activations, workspaces) — the assumption :meth:`cdig.engine.Run.calibrate`
#: makes before anything is measured. The backends' measured ``point_bytes`` counts a forward *and*
#: backward pass, which a perturbation never runs, so it is not used here.
FORWARD_FACTOR = CALIBRATE_FACTOR
#: ``internal_batch_size="auto"``: copies of each sample's input held for the whole call (the input and
#: the baseline, on the host and as the backend's arrays).
INPUT_COPIES = 4
#: RISE refuses masks that leave a group never kept or never dropped; the n_samples it then suggests
#: leaves such a group with at most this chance.
_MISS_CHANCE = 0.01


def attribute(
    model: Any,
    x: Any,
    domain: str | Domain = "fourier",
    *,
    method: str = "shapley",
    target: Any = None,
    baselines: Any = None,
    groups: Any = None,
    n_samples: int | None = None,
    keep_probability: float | None = None,
    seed: int = 0,
    time_axis: int | None = None,
    fs: float | None = None,
    additional_forward_args: Any = None,
    internal_batch_size: int | str | None = None,
    memory_budget: int | str | None = None,
    progress: bool = False,
    backend: str | None = None,
    output: Any = None,
) -> Attribution:
    """Occlusion, Shapley values or RISE scores of groups of a domain's coefficients.

    Parameters
    ----------
    model : callable
        ``model(x) -> outputs``: a PyTorch, TensorFlow or JAX model, or a plain function of numpy
        arrays (run without any framework when ``x`` is numpy and the function returns numpy).
    x : array or tensor
        The batch, ``(N, T)`` or ``(N, C, T)`` / ``(N, T, C)`` (see ``time_axis``).
    domain : str or Domain
        One domain (a name or a Domain object), as in :func:`cdig.explain`.
    method : {"shapley", "occlusion", "rise"}
        ``"shapley"``: the Shapley value of each group, exact (all ``2**G`` coalitions) for at most
        :data:`MAX_EXACT_GROUPS` groups, else estimated from permutations. ``"occlusion"``:
        ``f(x) - f(x with the group's coefficients replaced by the baseline's)``. ``"rise"``: random
        masks, each group kept with probability ``keep_probability`` (see Notes).
    target, additional_forward_args, output, time_axis, fs, backend :
        As in :func:`cdig.explain`; ``backend="numpy"`` runs the model on numpy arrays.
    baselines : None, scalar, array, dict or References
        The time-domain baseline (None: zeros), or ``{domain name: baseline coefficients}``. Or a
        background set, :class:`cdig.References` ``(samples)`` (SHAP's background data): each sample
        is explained against every reference (at most :data:`cdig.core.draws.DEFAULT_DRAWS`, else
        that many drawn with ``seed``) and the values are averaged; ``output - baseline_output`` is then
        ``f(x)`` minus the references' mean output, ``n_steps`` counts the calls of all references, and
        ``extras["standard_error"]`` is the spread over the references (plus, for sampled estimates, their
        own error: the permutations or masks are shared by every reference, so it is added, not
        averaged out).
    groups : None or array of int
        None: one group per reported value of the domain (``values`` then has the layout of
        :func:`cdig.explain`'s map). Else one label ``0 .. G-1`` per reported value (the shape of one
        sample's map, or a shape that broadcasts to it: labels of shape ``(n_bins,)`` for a
        ``(channels, n_bins)`` map put each bin of every channel in its label's group), every label
        used: ``values`` then has shape ``(N, G)`` with dims ``("group",)`` and ``extras["groups"]``
        holds the labels.
    n_samples : int or None
        Shapley: the number of permutations to sample (rounded up to an even number: each is paired
        with its reverse); given, the values are sampled even for few groups; None: exact up to
        :data:`MAX_EXACT_GROUPS` groups, else :data:`DEFAULT_PERMUTATIONS` permutations. RISE: the
        number of random masks (None: :data:`DEFAULT_MASKS`, 1000). Occlusion takes none.
    keep_probability : float or None
        RISE only: the probability ``p`` (``0 < p < 1``) that a mask keeps a group (the input's
        coefficients), independently per group; None: 0.5.
    seed : int
        Seed of the permutations or masks.
    internal_batch_size : int, "auto" or None
        Most rows (perturbed signals) per model call. None: as many as fit ``2**24`` input elements.
        ``"auto"``: as many as fit ``memory_budget`` (see :func:`plan_rows`); a budget too small for
        even one row is refused, naming the smallest budget that would do.
    memory_budget : int, str or None
        Bytes (or ``"512MiB"``, ``"2GB"``...) an ``internal_batch_size="auto"`` call may use; None: half
        the memory the device reports free. Only with ``internal_batch_size="auto"``.
    progress : bool
        Show a progress bar over the perturbed signals run (tqdm when installed, unit ``"row"``).

    Returns
    -------
    Attribution
        ``values`` (per group), ``delta`` (``values`` summed minus ``output - baseline_output``: zero up to
        round-off for Shapley values, exact or sampled; the interactions left out for occlusion; for RISE
        the part of the output change it does not assign, zero in expectation only for an additive
        model), ``output``/``baseline_output`` (the model at all / none of the input's coefficients),
        ``n_steps`` (model evaluations per sample) and ``settings`` (``method``, ``estimator``,
        ``groups``, ``n_samples`` (permutations or masks used), ``seed``, ``target``, ``domain``,
        ``internal_batch_size_used``, ``memory_budget``; RISE also ``keep_probability``). Sampled values
        (permutations, RISE) carry their standard error in ``extras["standard_error"]`` (the map's
        layout; NaN from a single pair of permutations, or for a group kept or dropped by one mask only)
        and ``settings["relative_standard_error"]``, one number per sample: ``||standard error||₂ /
        ||values||₂``, which falls as ``1 / sqrt(n_samples)`` and tells how many samples are enough.

    Raises
    ------
    CdigValueError
        For an unknown ``method``, a non-positive ``n_samples`` (or one given for occlusion), a
        ``keep_probability`` outside ``(0, 1)`` (or one given for another method), RISE masks that
        never keep or never drop a group, bad ``groups``, several domains, a ``memory_budget`` without
        ``internal_batch_size="auto"``, unreadable or too small.
    CdigTypeError
        For an ``internal_batch_size`` that is neither an int, ``"auto"`` nor None.

    Notes
    -----
    **RISE in any domain.** RISE (Petsiuk et al., 2018) scores a pixel by the mean output over random
    masks that keep it, ``E[v(m) m_g] / p``; FreqRISE (Brüsch et al., 2024) masks frequency bins. Here the
    players are any domain's groups and the score is *centred*:

    ``value_g = mean of v(m) over masks keeping g - mean of v(m) over masks dropping g``,

    an estimate of ``E[v | g kept] - E[v | g dropped] = E_S[v(S + g) - v(S)]``, ``S`` a random coalition
    of the other groups (each in with probability ``p``): the ``p``-weighted Banzhaf value (the plain
    Banzhaf value at ``p = 0.5``). Why centred: classic RISE's ``E[v m_g] / p = E[v | g kept]`` carries
    the output's mean (its offset) in every score, and differences between groups are all it says; the
    centred score does not depend on the offset, is unbiased (given both counts non-zero, masks being
    independent), and for an additive model ``v(S) = c + sum_{i in S} a_i`` equals ``a_g``, the Shapley
    value, whatever ``p``. For a model with interactions it differs from the Shapley value (each
    interaction is split by ``p``-weights, not equally), and ``delta`` shows how much of
    ``output - baseline_output`` it leaves unassigned.

    The masks are independent Bernoulli draws, for every ``p``; the standard error is
    ``sqrt(s_kept² / n_kept + s_dropped² / n_dropped)`` (sample variances of ``v`` over the masks keeping
    and dropping ``g``), the estimate being the difference of two means over disjoint sets of
    independent masks. Complement pairs (a mask and its negation, the antithetic pairs that help the
    permutation estimate of Shapley values) are not used: within a pair every other group is kept on one
    side of the comparison and dropped on the other, so its contribution adds to the noise instead of
    averaging out. For an additive model the variance doubles (``sum_{i != g} a_i²`` per pair against
    ``sum_{i != g} a_i² / 2`` per two independent masks); on linear, squared-linear and tanh models the
    spread over seeds measured 1.2 to 1.4 times larger with pairs. Masks that leave a group never kept
    or dropped are refused (a CdigValueError naming the groups and an ``n_samples`` that makes it
    unlikely) rather than padded with extra draws, which would bias the estimate; a group kept or
    dropped by one mask only gets a value with a NaN standard error.

    Each RISE sample costs ``n_samples + 2`` model evaluations (the masks, all and none of the groups).
    With ``p = 0.5`` and ``M`` masks the standard error of an additive model's value is about
    ``sqrt(sum_{i != g} a_i² / M)``.

    References
    ----------
    V. Petsiuk, A. Das, K. Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box
    Models", BMVC 2018 (arXiv:1806.07421). T. Brüsch, K. K. Wickstrøm, M. N. Schmidt, T. S. Alstrøm,
    R. Jenssen, "FreqRISE: Explaining time series using frequency masking", 2024. J. T. Wang, R. Jia,
    "Data Banzhaf: A Robust Data Valuation Framework for Machine Learning", AISTATS 2023 (the same
    difference of means, there the "maximum sample reuse" estimate of the Banzhaf value).

    Examples
    --------
    >>> import numpy as np
    >>> from cdig.perturb import attribute
    >>> w = np.arange(8.0)
    >>> x = np.ones((1, 8))
    >>> att = attribute(lambda s: s @ w, x, "time")
    >>> att.values.round(6).tolist()  # w * (x - 0) for a linear model
    [[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]
    >>> att.settings["estimator"], float(abs(att.delta).max()) < 1e-9
    ('exact', True)

    RISE masks over four groups of two time steps; for a linear model the expectation is the
    groups' sums of ``w * x``:

    >>> rise = attribute(lambda s: s @ w, x, "time", method="rise", groups=np.repeat(np.arange(4), 2), n_samples=400)
    >>> expected = (w * x).reshape(1, 4, 2).sum(axis=2)
    >>> bool(np.all(abs(rise.values - expected) <= 5 * rise.extras["standard_error"]))
    True
    >>> rise.settings["estimator"], rise.settings["n_samples"], int(rise.n_steps[0])
    ('rise', 400, 402)
    """
    method = check_choice(method, "method", METHODS)
    n_samples = check_positive_int(n_samples, "n_samples", allow_none=True)
    if n_samples is not None and method == "occlusion":
        raise CdigValueError(
            f"n_samples={n_samples} is the number of Shapley permutations or RISE masks; method='occlusion' "
            "takes none: leave it None"
        )
    if keep_probability is not None and method != "rise":
        raise CdigValueError(
            f"keep_probability={keep_probability!r} is the chance a RISE mask keeps a group; method={method!r} "
            "takes none: leave it None (or use method='rise')"
        )
    # a mask must be able to keep and to drop each group: 0 and 1 are refused
    p = check_real(
        0.5 if keep_probability is None else keep_probability,
        "keep_probability",
        min=0,
        max=1,
        include_min=False,
        include_max=False,
    )
    seed = int(check_int(seed, "seed", min=0))
    progress = check_bool(progress, "progress")
    if fs is not None and (isinstance(fs, bool) or not isinstance(fs, (int, float, np.number)) or not 0 < fs < np.inf):
        raise CdigValueError(f"fs={fs!r}: the sampling rate must be a positive finite number (in Hz), or None")
    from .engine import check_batch_size, split_baselines, to_host

    auto = check_batch_size(internal_batch_size, memory_budget)
    fixed_batch = None if auto else check_positive_int(internal_batch_size, "internal_batch_size", allow_none=True)
    doms = resolve(domain)
    if len(doms) != 1:
        raise CdigValueError(f"domain names {len(doms)} domains; cdig.perturb.attribute explains one per call")
    d = doms[0]

    if isinstance(baselines, References) and baselines.draw != "paths":
        raise CdigValueError(
            "References(draw='points') takes one random point of each Integrated Gradients path (expected gradients); "
            f"method={method!r} compares the input with each reference whole: pass References(samples) (draw='paths')"
        )
    prep = _prepare(model, x, target, time_axis, additional_forward_args, fixed_batch, backend, output, progress)
    be, xb, xn, layout, run = prep.be, prep.xb, prep.xn, prep.layout, prep.run

    # the rows the game is played on: the samples, or (a background set) each sample with each reference
    draws: Draws | None = None
    coef_base = None
    if isinstance(baselines, References):
        references = check_references(np.asarray(to_host(baselines.samples, be)).astype(xn.dtype, copy=False), xn.shape)
        draws = plan_draws(baselines, 0.0, None, seed, xn, None, references)
        run = run.expand(draws.rows)
        xn_rows, x0n = draws.x, draws.x0
        xb_rows = be.asarray(xn_rows)
    else:
        time_base, coef_bases = split_baselines(baselines, [d.name])
        x0n = check_baseline(to_host(time_base, be), xn.shape, xn.dtype)
        xn_rows, xb_rows, coef_base = xn, xb, coef_bases.get(d.name)
    x0b = be.asarray(x0n)
    settings: dict[str, Any] = {
        "method": method,
        "backend": be.name,
        "device": be.device_name(),
        "time_axis": layout.time_axis,
        "input_shape": list(xn.shape),
        "fs": fs,
        "internal_batch_size": internal_batch_size,
        "memory_budget": None,
        "seed": seed,
        **prep.notes,
    }
    with be.prepared():
        d.fit(layout.to_canonical_np(xn))  # on the samples; every row of a sample uses its fit
        game = _Game(run, d if draws is None else d.select_rows(draws.rows), layout, xb_rows, x0b, coef_base)
        labels, n_groups, shape, dims = game.groups(groups)
        # every coalition is drawn before the model runs: refusals (RISE masks, the budget) cost no evaluation
        if method == "occlusion":
            plan = game.occlusion(n_groups)
        elif method == "rise":
            plan = game.rise(n_groups, DEFAULT_MASKS if n_samples is None else n_samples, p, seed)
            settings["keep_probability"] = p
        elif n_samples is None and n_groups <= MAX_EXACT_GROUPS:
            plan = game.exact(n_groups)
        else:
            if n_samples is None:
                n_samples = DEFAULT_PERMUTATIONS
                settings["note"] = (
                    f"{n_groups} groups are more than the {MAX_EXACT_GROUPS} exact Shapley values are computed for "
                    f"(2**{n_groups} coalitions): estimated from {n_samples} permutations (pass n_samples= to choose)"
                )
            plan = game.sampled(n_groups, n_samples, seed)
        if auto:
            budget = parse_bytes(memory_budget) if memory_budget is not None else _free_budget(be)
            rows, info = plan_rows(budget, xn_rows, game.zn, game.z0n, n_groups, len(plan.masks), plan.scratch_bytes)
            run = replace(run, batch_rows=rows)
            settings.update(info)
        f_x, run = run.calibrate(xb_rows)  # checks the output's shape against the target
        # chunks mix samples and perturbed signals: refuse a model whose rows depend on each other
        run.check_batch_independence(xn_rows, x0n, f_x, run.outputs(x0b, what="baseline"))
        game.run = run
        values, v1, v0, se = plan.finish(game.values(plan.masks, f"cdig {method}"))
    settings.update(
        estimator=plan.estimator,
        groups="values" if groups is None else "given",
        n_groups=n_groups,
        n_samples=plan.n_samples,
        internal_batch_size_used=run.batch_rows,
        dtype=run.out_dtype,
        target=run.target.describe(),
        domain=d.describe(),
    )
    delta = values.sum(axis=1) - (v1 - v0)
    extras: dict[str, np.ndarray] = {}
    if se is not None:
        norm = np.linalg.norm(values, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(norm > 0, np.linalg.norm(se, axis=1) / norm, np.nan)
        settings["relative_standard_error"] = [float(r) for r in rel]
    if groups is None:
        out, out_dims = values.reshape((run.n, *shape)), dims
        coords, units = d.coords(game.zn.shape[1:], fs)
        out, out_dims = layout.squeeze_channels(out, out_dims)
        if se is not None:
            extras["standard_error"] = layout.squeeze_channels(se.reshape((run.n, *shape)), dims)[0]
        if layout.ndim == 2 and dims[:1] == ("channel",):
            coords.pop("channel", None)
    else:
        out, out_dims = values, ("group",)
        assert labels is not None  # given groups
        coords, units = {"group": np.arange(n_groups)}, {}
        coords.update(_group_ranges(d, game.zn.shape[1:], fs, labels, dims, settings, units))
        extras["groups"] = layout.squeeze_channels(labels[None], dims)[0][0]  # shaped like one sample's map
        if se is not None:
            extras["standard_error"] = se
    att = Attribution(
        values=out,
        domain=d.name,
        dims=tuple(out_dims),
        coords=coords,
        delta=delta,
        output=v1,
        baseline_output=v0,
        n_steps=np.full(run.n, len(plan.masks), dtype=np.int64),
        target=run.target.describe(),
        units=units,
        settings=settings,
        coefficients=game.zn,
        baseline_coefficients=game.z0n,
        extras=extras,
        domain_object=copy.copy(d),
    )
    if draws is None:
        return att
    # the rows are sample-major (m per sample), each holding its sample's own coefficients
    coefficients = game.zn.reshape((len(xn), draws.m, *game.zn.shape[1:]))[:, 0]
    return _over_references(att, draws, coefficients, prep.run.target.describe())


def _over_references(att: Attribution, draws: Draws, coefficients: np.ndarray, target: Any) -> Attribution:
    """The values of a sample with each reference (rows), averaged per sample: efficiency then holds
    against the references' mean output. The standard error, where the rows are sampled estimates, adds
    the spread over the references and the rows' own (their draws are shared by every row, so their
    errors do not average out): a conservative sum."""
    labels = att.extras.pop("groups", None)  # shaped like one sample's map: not a per-row array
    own = att.extras.pop("standard_error", None)
    att.settings.pop("relative_standard_error", None)
    out = combine(att, draws, coefficients)
    n, m = len(out.values), draws.m
    if own is not None:
        own_mean = np.asarray(own, dtype=np.float64).reshape((n, m, *out.values.shape[1:])).mean(axis=1)
        spread = out.extras.get("standard_error")
        out.extras["standard_error"] = own_mean if spread is None else np.sqrt(spread**2 + own_mean**2)
    se = out.extras.get("standard_error")
    if se is not None:
        norm = np.linalg.norm(out.values.reshape(n, -1), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(norm > 0, np.linalg.norm(se.reshape(n, -1), axis=1) / norm, np.nan)
        out.settings["relative_standard_error"] = [float(r) for r in rel]
    if labels is not None:
        out.extras["groups"] = labels
    return replace(out, target=target)


# --- memory: rows per model call under a budget ---------------------------------------------
def plan_rows(
    budget: int, xn: np.ndarray, zn: np.ndarray, z0n: np.ndarray, n_groups: int, n_coalitions: int, scratch: int = 0
) -> tuple[int, dict[str, Any]]:
    """Rows (perturbed signals) per model call that fit ``budget`` bytes, and what was counted.

    The call holds, whatever the chunk (``bytes_fixed``): :data:`INPUT_COPIES` copies of the input
    ``xn``, the coefficients ``zn`` and ``z0n`` on the host and on the model's device (complex ones at
    their complex itemsize: 16 bytes for complex128), the coalitions (``n_coalitions × n_groups``
    bools), the outputs at them (``N × n_coalitions`` float64), the estimator's ``scratch`` and the maps
    returned (values, standard error: ``3 × N × n_groups`` float64). One row costs (``bytes_per_row``):
    its mask over the coefficients (a bool each, on the host and sent to the device), its input's and
    baseline's coefficients and the choice between them (on the device: the masks travel, not the
    coefficients), the inverted signal (twice: the inverse and the model's layout), and the model's
    forward pass, :data:`FORWARD_FACTOR` times the input row's bytes. Rows are
    ``(budget - fixed) // per_row``, at most ``N × n_coalitions``.

    Raises
    ------
    CdigValueError
        Where not even one row fits, naming the smallest budget that would do (in bytes).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((2, 100))
    >>> z = np.fft.rfft(x)
    >>> rows, info = plan_rows(2**20, x, z, z, 4, 18)
    >>> rows, info["bytes_per_row"]
    (34, 29754)
    >>> plan_rows(20_000, x, z, z, 4, 18)
    Traceback (most recent call last):
    ...
    cdig.core.errors.CdigValueError: memory_budget=19.5 KiB is too small: ...
    """
    n = xn.shape[0]
    in_row = int(np.prod(xn.shape[1:])) * xn.dtype.itemsize
    coef = int(np.prod(zn.shape[1:]))
    coef_dtype = np.result_type(zn, z0n)
    real_item = coef_dtype.itemsize // (2 if coef_dtype.kind == "c" else 1)
    fixed = (
        n * (INPUT_COPIES * in_row + 2 * coef * (zn.dtype.itemsize + z0n.dtype.itemsize))  # on the host and the device
        + n_coalitions * n_groups
        + n * n_coalitions * 8
        + int(scratch)
        + 3 * n * n_groups * 8
    )
    # the row's mask over the coefficients (host and device), its input's and baseline's coefficients and
    # their choice (device), the inverse and the model's layout of it
    per_row = n_groups + coef * (2 + 3 * coef_dtype.itemsize) + 2 * int(np.prod(xn.shape[1:])) * real_item
    per_row += FORWARD_FACTOR * in_row
    if budget - fixed < per_row:
        need = fixed + per_row
        raise CdigValueError(
            f"memory_budget={format_bytes(budget)} is too small: one perturbed signal (row) needs about "
            f"{format_bytes(per_row)} (estimated: mask, coefficients, inverse, {FORWARD_FACTOR}x its input for the "
            f"model's forward pass) besides {format_bytes(fixed)} the call holds for {n} sample(s) and {n_coalitions} "
            f"coalitions (input copies, coefficients, outputs); give memory_budget >= {need} bytes "
            f"({format_bytes(need)}), explain fewer samples at once, use fewer masks or permutations (n_samples), or "
            "set internal_batch_size yourself"
        )
    rows = int(max(1, min(n * n_coalitions, (budget - fixed) // per_row)))
    return rows, {"memory_budget": int(budget), "bytes_per_row": int(per_row), "bytes_fixed": int(fixed)}


def _free_budget(be: Backend) -> int:
    """The default budget of ``internal_batch_size="auto"``: a share of the memory the device reports free."""
    free = be.free_memory()
    if free is None:
        raise CdigValueError("internal_batch_size='auto' needs memory_budget=... here: the free memory of this device is unknown")
    return int(free * DEFAULT_FRACTION)


# --- the game: coalitions of groups of coefficients -------------------------------------------
Estimate = tuple[np.ndarray, np.ndarray, np.ndarray, "np.ndarray | None"]


@dataclass
class _Plan:
    """The coalitions an estimator evaluates and how it turns their outputs into values."""

    estimator: str
    #: ``(K, G)`` bools: which groups each evaluated coalition keeps.
    masks: np.ndarray
    #: ``v`` ``(N, K)`` -> values ``(N, G)``, ``v(all)``, ``v(none)``, standard errors ``(N, G)`` or None.
    finish: Callable[[np.ndarray], Estimate]
    #: Permutations or masks used (None for the deterministic estimators).
    n_samples: int | None = None
    #: Bytes the estimator's own tables take (for ``internal_batch_size="auto"``).
    scratch_bytes: int = 0


class _Game:
    """``v(S)`` for coalitions ``S`` of groups: the input's coefficients on ``S``, the baseline's elsewhere."""

    def __init__(self, run: Any, d: Domain, layout: Layout, xb: Any, x0b: Any, coef_base: Any) -> None:
        from .engine import coef_baseline

        be, xp = run.be, run.be.xp
        self.run, self.d, self.layout = run, d, layout
        z = d.forward(layout.to_canonical(xb, xp), xp)
        z0 = coef_baseline(coef_base, z, be, d.name) if coef_base is not None else d.forward(layout.to_canonical(x0b, xp), xp)
        # on the model's device as computed (a chunk's coalitions travel there as bool masks), and on the host
        self.zb, self.z0b = z, z0
        self.zn, self.z0n = be.to_numpy(z), be.to_numpy(z0)
        self.coef_group = np.zeros(0, dtype=np.int64)

    def groups(self, groups: Any) -> tuple[np.ndarray | None, int, tuple[int, ...], tuple[str, ...]]:
        """The group of each coefficient (kept), the number of groups, the reported map's shape and dims."""
        d, zshape = self.d, self.zn.shape[1:]
        real = np.zeros((1, *zshape), dtype=np.float64)
        template, dims, _ = d.reduce(real)
        shape = tuple(template.shape[1:])
        dims = d.axis_names(len(zshape)) if dims is None else tuple(dims)
        n_values = int(np.prod(shape))
        index = np.asarray(d.value_index(zshape), dtype=np.int64).reshape(-1)
        if index.size != int(np.prod(zshape)) or index.min(initial=0) < 0 or index.max(initial=-1) >= n_values:
            raise CdigValueError(
                f"{type(d).__name__}.value_index does not map the {zshape} coefficients onto the {n_values} reported "
                "values; a domain whose reduce() merges coefficients must say how in value_index()"
            )
        if groups is None:
            self.coef_group = index
            return None, n_values, shape, dims
        labels = _check_groups(groups, shape, dims, self.layout)
        self.coef_group = labels.reshape(-1)[index]
        return labels, int(labels.max()) + 1, shape, dims

    def values(self, masks: np.ndarray, label: str = "cdig perturb") -> np.ndarray:
        """``v`` of every sample at every coalition: ``(N, K)`` for boolean ``masks`` ``(K, G)``."""
        run, be, xp = self.run, self.run.be, self.run.be.xp
        n, k = run.n, len(masks)
        zshape = self.zn.shape[1:]
        out = np.empty(n * k, dtype=np.float64)
        bar = Progress(run.progress, n * k, label, unit="row")
        try:
            for start in range(0, n * k, run.batch_rows):
                rows = np.arange(start, min(start + run.batch_rows, n * k))
                si, ki = rows // k, rows % k
                keep = masks[ki][:, self.coef_group].reshape((len(rows), *zshape))  # per chunk: 2**G masks can be many
                zc = xp.where(be.asarray(np.ascontiguousarray(keep)), be.take(self.zb, si), be.take(self.z0b, si))
                inverse = self.d.select_rows(si).inverse(zc, xp)
                signals = self.layout.from_canonical(inverse, xp)
                sel = run.target.select(be.forward(signals, run._args(si)), si, be)
                y = be.to_numpy(sel)
                if y.dtype.kind not in "fc" or np.iscomplexobj(y) or y.shape != (len(rows),):
                    raise CdigModelError(
                        f"the explained output must be one real floating scalar per row; got shape {y.shape}, dtype {y.dtype}"
                    )
                out[rows] = y.astype(np.float64)
                bar(len(rows))
        finally:
            bar.close()
        if not np.all(np.isfinite(out)):
            bad = np.unique(np.nonzero(~np.isfinite(out))[0] // k)
            raise CdigModelError(
                f"the model's explained output is NaN/Inf for sample(s) {bad[:10].tolist()} at perturbed coefficients"
            )
        return out.reshape(n, k)

    def occlusion(self, g: int) -> _Plan:
        masks = np.ones((g + 2, g), dtype=bool)
        masks[np.arange(g), np.arange(g)] = False
        masks[g + 1] = False

        def finish(v: np.ndarray) -> Estimate:
            v1, v0 = v[:, g], v[:, g + 1]
            return v1[:, None] - v[:, :g], v1, v0, None

        return _Plan("occlusion", masks, finish)

    def exact(self, g: int) -> _Plan:
        codes = np.arange(2**g, dtype=np.int64)
        bits = (codes[:, None] >> np.arange(g)) & 1
        size = bits.sum(axis=1)
        # |S|! (G - |S| - 1)! / G! for coalitions S without the player
        weight = np.array([math.factorial(s) * math.factorial(g - s - 1) / math.factorial(g) for s in range(g)])

        def finish(v: np.ndarray) -> Estimate:
            phi = np.empty((v.shape[0], g), dtype=np.float64)
            for i in range(g):
                without = codes[((codes >> i) & 1) == 0]
                phi[:, i] = (v[:, without | (1 << i)] - v[:, without]) @ weight[size[without]]
            return phi, v[:, -1], v[:, 0], None

        # codes, bits and size (int64) and one player's marginal contributions
        return _Plan("exact", bits.astype(bool), finish, scratch_bytes=2**g * 8 * (g + 4))

    def sampled(self, g: int, n_samples: int, seed: int) -> _Plan:
        rng = np.random.default_rng(seed)
        pairs = max(1, -(-n_samples // 2))
        perms = []
        for _ in range(pairs):
            p = rng.permutation(g)
            perms += [p, p[::-1]]
        # rows: the empty and the full coalition once, then each permutation's G - 1 proper prefixes
        masks = np.zeros((2 + len(perms) * (g - 1), g), dtype=bool)
        masks[1] = True
        for q, p in enumerate(perms):
            for j in range(1, g):
                masks[2 + q * (g - 1) + j - 1, p[:j]] = True

        def finish(v: np.ndarray) -> Estimate:
            n = v.shape[0]
            phi = np.empty((len(perms), n, g), dtype=np.float64)
            for q, p in enumerate(perms):
                chain = np.concatenate([v[:, :1], v[:, 2 + q * (g - 1) : 2 + (q + 1) * (g - 1)], v[:, 1:2]], axis=1)
                phi[q][:, p] = np.diff(chain, axis=1)
            pair_means = 0.5 * (phi[0::2] + phi[1::2])
            se = pair_means.std(axis=0, ddof=1) / math.sqrt(pairs) if pairs > 1 else np.full((n, g), np.nan)
            return pair_means.mean(axis=0), v[:, 1], v[:, 0], se

        scratch = 3 * len(perms) * self.run.n * g * 8  # marginal contributions, pair means and their spread
        return _Plan("permutation", masks, finish, n_samples=len(perms), scratch_bytes=scratch)

    def rise(self, g: int, n_samples: int, p: float, seed: int) -> _Plan:
        """``n_samples`` independent random masks keeping each group with probability ``p``, after two rows
        with all and none of the groups (see :func:`attribute`'s Notes)."""
        rng = np.random.default_rng(seed)
        random = rng.random((n_samples, g)) < p
        n_kept = random.sum(axis=0)
        missed = np.nonzero((n_kept == 0) | (n_kept == n_samples))[0]
        if missed.size:
            # fewest masks for which some group is never kept or never dropped with chance <= _MISS_CHANCE
            enough = math.ceil(math.log(_MISS_CHANCE / (2 * g)) / math.log(max(p, 1 - p)))
            raise CdigValueError(
                f"method='rise' with n_samples={n_samples} masks and keep_probability={p:g} never "
                f"{'kept' if n_kept[missed[0]] == 0 else 'dropped'} group(s) {missed[:10].tolist()}: their value is "
                f"undefined; draw more masks (n_samples >= {enough} makes this unlikely for {g} groups)"
                + (" or a keep_probability nearer 0.5" if abs(p - 0.5) > 0.25 else "")
            )
        masks = np.concatenate([np.ones((1, g), dtype=bool), np.zeros((1, g), dtype=bool), random])
        keep = random.astype(np.float64)
        kept, dropped = n_kept.astype(np.float64), float(n_samples) - n_kept

        def finish(v: np.ndarray) -> Estimate:
            n, vm = v.shape[0], v[:, 2:]
            values, se = np.empty((n, g)), np.full((n, g), np.nan)
            has_spread = (kept > 1) & (dropped > 1)
            for j in range(n):  # one sample at a time: (masks, G) tables, not (N, masks, G)
                mean_kept = vm[j] @ keep / kept
                mean_dropped = vm[j] @ (1.0 - keep) / dropped
                values[j] = mean_kept - mean_dropped
                ss_kept = ((vm[j][:, None] - mean_kept) ** 2 * keep).sum(axis=0)
                ss_dropped = ((vm[j][:, None] - mean_dropped) ** 2 * (1.0 - keep)).sum(axis=0)
                with np.errstate(divide="ignore", invalid="ignore"):
                    var = ss_kept / (kept - 1) / kept + ss_dropped / (dropped - 1) / dropped
                se[j] = np.where(has_spread, np.sqrt(var), np.nan)
            return values, v[:, 0], v[:, 1], se

        scratch = 3 * n_samples * g * 8  # the masks as weights and one sample's (masks, G) deviations and squares
        return _Plan("rise", masks, finish, n_samples=n_samples, scratch_bytes=scratch)


def _group_ranges(
    d: Domain, zshape: tuple[int, ...], fs: float | None, labels: np.ndarray, dims: tuple[str, ...], settings: dict, units: dict
) -> dict[str, np.ndarray]:
    """``group_low`` / ``group_high``: the range of the map's last coordinate (frequency, time, component...)
    each group covers, when that coordinate is numeric; its name goes to ``settings["group_axis"]`` and its
    unit to ``units["group_low"]``. Empty when there is no such coordinate."""
    full, full_units = d.coords(zshape, fs)
    if not dims:
        return {}
    axis = dims[-1]
    c = np.asarray(full.get(axis, []))
    if c.ndim != 1 or c.dtype.kind not in "iuf" or len(c) != labels.shape[-1]:
        return {}
    along = np.broadcast_to(c.astype(np.float64), labels.shape).reshape(-1)
    flat = labels.reshape(-1)
    groups = np.arange(int(flat.max()) + 1)
    low = np.array([along[flat == g].min() for g in groups])
    high = np.array([along[flat == g].max() for g in groups])
    settings["group_axis"] = axis
    if full_units.get(axis):
        units["group_low"] = units["group_high"] = full_units[axis]
    return {"group_low": low, "group_high": high}


def _check_groups(groups: Any, shape: tuple[int, ...], dims: tuple[str, ...], layout: Layout) -> np.ndarray:
    """Group labels, one per reported value (the map's shape, or without its channel axis for 2-D inputs)."""
    arr = np.asarray(groups)
    if arr.dtype.kind not in "iu":
        raise CdigTypeError(f"groups must be an array of int labels (one per reported value), got dtype {arr.dtype}")
    squeezed = shape[1:] if layout.ndim == 2 and dims[:1] == ("channel",) else shape
    if arr.shape == squeezed and squeezed != shape:
        arr = arr.reshape(shape)
    if arr.shape != shape:
        try:  # labels shared along leading axes, e.g. one per bin for every channel: a group spans them
            arr = np.broadcast_to(arr, shape)
        except ValueError:
            raise CdigValueError(
                f"groups has shape {arr.shape}; it must hold one label per reported value of the domain, shape "
                f"{squeezed}, or broadcast to it (e.g. one label per bin, shared by every channel)"
            ) from None
    labels = np.unique(arr)
    if labels[0] < 0 or not np.array_equal(labels, np.arange(len(labels))):
        raise CdigValueError(f"groups must use the labels 0 .. G-1, each at least once; got {labels.tolist()[:20]}")
    return arr.astype(np.int64)


# --- preparation: a framework's backend, or numpy --------------------------------------------
def _prepare(
    model: Any,
    x: Any,
    target: Any,
    time_axis: int | None,
    additional_forward_args: Any,
    internal_batch_size: int | None,
    backend: str | None,
    output: Any,
    progress: bool = False,
) -> Any:
    """:func:`cdig.engine.prepare` (which runs a plain function of numpy arrays on numpy)."""
    from .engine import prepare

    return prepare(
        model,
        x,
        target=target,
        time_axis=time_axis,
        additional_forward_args=additional_forward_args,
        internal_batch_size=internal_batch_size,
        backend=backend,
        progress=progress,
        output=output,
    )
