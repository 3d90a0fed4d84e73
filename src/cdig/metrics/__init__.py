"""Trusting the maps: faithfulness and sanity metrics that work in every domain.

Quantus and Captum measure faithfulness by perturbing raw inputs; cross-domain maps live in
frequencies, components and wavelet coefficients, so cdig perturbs *there* and maps the result back
through the domain's inverse.

=====================================  ===========================================================
:func:`deletion`, :func:`insertion`    curves and AUC of the model output as the top-ranked
                                       coefficients are removed / inserted, with a random-order
                                       reference (:class:`Curves`)
:func:`completeness`                   per-domain completeness error table
:func:`sensitivity`                    max-sensitivity of the map under small input noise
:func:`randomization`                  model-parameter randomisation sanity check
:mod:`cdig.metrics.quantus`            run Quantus metrics on coefficient-space data (optional)
=====================================  ===========================================================

Examples
--------
>>> import torch, cdig
>>> from cdig import metrics
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
>>> x = torch.randn(8, 1, 64)
>>> maps = cdig.explain(model, x, ("time", "fourier"), target=0)
>>> d = metrics.deletion(model, x, maps["fourier"], n_random=2)
>>> bool((d.auc <= d.random_auc + 1e-6).all())   # removing the top bins first lowers the output faster
True
"""

from .faithfulness import DEFAULT_FRACTIONS, Curves, deletion, insertion
from .sanity import Randomization, completeness, randomization, sensitivity, spearman

__all__ = [
    "deletion",
    "insertion",
    "Curves",
    "DEFAULT_FRACTIONS",
    "completeness",
    "sensitivity",
    "randomization",
    "Randomization",
    "spearman",
]
