"""The reference package's names on top of cdig's public API.

Code written for ``cross-domain-saliency-maps`` (Kechris, Dan & Atienza) runs by changing only its
imports::

    from cdig.compat import TimeIG, FourierIG, ICAIG, CrossDomainIG, DomainBase

The classes keep the reference's constructors (``model, [ica,] n_iterations, output_channel, device,
dtype`` in that order), ``run(x, x_baseline)``, ``getMultiIG()``, ``domain.forward_transform`` /
``inverse_transform`` and its results: a tensor of the model's framework on the model's device (or
``device``). The model decides which of the reference's two sides is served:

* a PyTorch model (the reference's ``torch_ig``): ``x`` is ``(N, C, T)``; time and the two-sided
  Fourier bins give ``(N, C, T)``, also for one sample; ICA gives ``(N, K)``, ``(K,)`` for one sample.
* a Keras model on the TensorFlow backend (the reference's ``tensorflow_ig``): ``x`` is
  ``(N, T, C)``, channels last; time and Fourier give ``(C, T)`` for one sample, as the reference
  does, and ``(N, C, T)`` for a batch of ``N > 1`` (which the reference cannot explain); ICA gives
  ``(K,)`` for one sample and ``(N, K)`` for a batch.

By default they integrate with the reference's torch rule, the right Riemann sum ``α = i/n,
i = 1..n``, so the torch side's numbers come back to float round-off; ``method=`` picks any rule of
:data:`cdig.RULES`. The reference's TensorFlow side uses another rule (``α = linspace(0, 1, n)``,
both ends included, each weight ``1/n``); cdig keeps one rule on both sides, so its TensorFlow
numbers differ from that side's by ``O(1/n)`` (see ``docs/porting.md``).

Every class here is a :class:`CrossDomainIG` with a preset :class:`DomainBase`. The domain's
coefficients, its baseline coefficients and its ``inverse_transform`` define a straight path that
:func:`cdig.explain` integrates: domains whose inverse is affine (``linear = True``: time, Fourier,
the reference's ICA) share cdig's time-domain pass; any other domain is integrated along its own path.

The package has three rooms: :mod:`cdig.compat.domains` (the reference's domains),
:mod:`cdig.compat.explainers` (the IG classes) and :mod:`cdig.compat.ops` (one small class per
framework, the only module here importing one, lazily); :mod:`cdig.compat.args` reads the
reference's two call signatures.

Examples
--------
>>> import numpy as np, torch
>>> from cdig.compat import TimeIG, FourierIG
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 16, 3)).eval()
>>> x = np.random.default_rng(0).normal(size=(4, 2, 16)).astype("float32")
>>> ig = FourierIG(model, 20, output_channel=1)
>>> _ = ig.run(x, np.zeros_like(x))
>>> tuple(ig.getMultiIG().shape), ig.getMultiIG().device.type
((4, 2, 16), 'cpu')
>>> time_map = TimeIG(model, 20, output_channel=1).run(x, np.zeros_like(x))
>>> bool(torch.allclose(time_map.sum(dim=(1, 2)), ig.getMultiIG().sum(dim=(1, 2)), atol=1e-4))
True
"""

from __future__ import annotations

from .domains import DomainBase, FourierDomain, ICADomain, TimeDomain
from .explainers import ICAIG, CrossDomainIG, FourierIG, TimeIG, fourier_two_sided
from .explainers import REFERENCE_METHOD as REFERENCE_METHOD  # importable as before, not exported

__all__ = [
    "CrossDomainIG",
    "TimeIG",
    "FourierIG",
    "ICAIG",
    "DomainBase",
    "TimeDomain",
    "FourierDomain",
    "ICADomain",
    "fourier_two_sided",
]
