"""Training wrappers around networks: the network a skorch net, an aeon deep learner, a fastai ``Learner``
or a scikeras estimator holds is the model cdig explains.

Framework-free: no wrapper library is imported here. Each family is told by the modules of the
object's classes (its own and those it inherits from) and by the fitted attribute holding the network.
"""

from __future__ import annotations

from typing import Any

from .core.errors import CdigTypeError

__all__ = ["unwrap_model"]

#: Public attributes under which a non-callable object may hold its network, in the order they are named.
HOLDER_ATTRS = ("module_", "model_", "model", "module", "network", "net")

_AEON_KERAS_INPUT = (
    "input (N, T, C): aeon transposes its (N, C, T) data before the network, so pass x.transpose(0, 2, 1) "
    "with time_axis=1 (TensorFlow's default)"
)


def _modules(obj: Any) -> list[str]:
    """The modules of the object's class and of every class it inherits from."""
    return [getattr(c, "__module__", None) or "" for c in type(obj).__mro__]


def _from(obj: Any, *packages: str) -> bool:
    """Whether a class of ``obj`` (its own or an inherited one) comes from one of ``packages``."""
    return any(m == p or m.startswith(p + ".") for m in _modules(obj) for p in packages)


def _skorch(net: Any) -> tuple[Any, str]:
    name = type(net).__name__
    module = getattr(net, "module_", None)
    if module is None:
        raise CdigTypeError(
            f"model is a skorch {name} that is not initialized: call net.initialize() or net.fit(...) first, "
            "then pass net.module_ (or the net)"
        )
    history = getattr(net, "history_", None)
    fitted = "fitted" if history is not None and len(history) > 0 else "initialized (not fitted)"
    return module, f"{name}.module_: the {fitted} network (its raw outputs, e.g. logits, not predict_proba)"


def _aeon(est: Any) -> tuple[Any, str]:
    name = type(est).__name__
    members = next((a for a in ("classifiers_", "regressors_") if isinstance(getattr(est, a, None), list)), None)
    if members is None and any(hasattr(est, a) for a in ("n_classifiers", "n_regressors")):
        members = "classifiers_" if hasattr(est, "n_classifiers") else "regressors_"
    if members is not None:
        raise CdigTypeError(
            f"model is an aeon {name}, an ensemble that averages the outputs of several networks "
            f"(est.{members}); cdig explains one network: pass one member, est.{members}[i].model_, or a "
            f"function averaging the members' outputs, e.g. lambda x: sum(m.model_(x) for m in est.{members}) "
            f"/ len(est.{members}) (with backend='tensorflow'; {_AEON_KERAS_INPUT})"
        )
    network = getattr(est, "model_", None)
    if network is None:
        raise CdigTypeError(
            f"model is an aeon {name} that is not fitted: call est.fit(X, y) first, then pass est.model_ "
            "(the fitted Keras network) or the estimator"
        )
    out = "softmax probabilities" if "classif" in ".".join(_modules(est)) else "predictions"
    return network, f"{name}.model_: the fitted Keras network (its outputs are the {out}; {_AEON_KERAS_INPUT})"


def _scikeras(est: Any) -> tuple[Any, str]:
    name = type(est).__name__
    network = getattr(est, "model_", None)
    if network is None:
        raise CdigTypeError(
            f"model is a scikeras {name} that is not fitted: call est.fit(X, y) (or est.initialize(X, y)) first, "
            "then pass est.model_ (the Keras model) or the estimator"
        )
    return network, f"{name}.model_: the fitted Keras model (its outputs, before scikeras' post-processing)"


def _learner(learn: Any) -> tuple[Any, str]:
    name = type(learn).__name__
    return learn.model, (
        f"{name}.model: the network (its raw outputs, e.g. logits; learn.get_preds applies the loss function's activation)"
    )


def _held(obj: Any) -> str | None:
    """The first public attribute of ``obj`` (among :data:`HOLDER_ATTRS`) holding a callable model."""
    for attr in HOLDER_ATTRS:
        value = getattr(obj, attr, None)
        if value is not None and callable(value) and not isinstance(value, type):
            return attr
    return None


def unwrap_model(model: Any) -> tuple[Any, str | None]:
    """The network to explain inside a training wrapper, and a note saying what was taken.

    Recognised by the modules of the object's classes, never by importing the library:

    - skorch nets (``NeuralNet``, ``NeuralNetClassifier``, ...; braindecode's ``EEGClassifier`` and
      ``EEGRegressor`` are skorch nets): ``net.module_``, the torch module, whose raw outputs (logits
      for a classifier) are explained, not ``predict_proba``'s;
    - aeon deep learners (``FCNClassifier``, ``ResNetRegressor``, ...): ``est.model_``, the Keras
      network, whose input is ``(N, T, C)``; aeon's ensembles (``InceptionTimeClassifier``,
      ``LITETimeClassifier``, ...) average several networks and are refused;
    - scikeras ``KerasClassifier`` / ``KerasRegressor``: ``est.model_``;
    - fastai and tsai ``Learner``: ``learn.model``.

    Anything else is returned as it is, with None for the note.

    Parameters
    ----------
    model : object
        What the user passed as the model.

    Returns
    -------
    network : object
        The model to explain: the wrapped network, or ``model`` itself.
    note : str or None
        What was unwrapped (e.g. ``"NeuralNetClassifier.module_: the fitted network ..."``), for the
        result's settings; None when ``model`` was returned as it is.

    Raises
    ------
    CdigTypeError
        For a skorch net that is not initialized, an aeon or scikeras estimator that is not fitted, an
        aeon ensemble, and an object that is not callable but holds a callable model in one of the
        attributes ``module_``, ``model_``, ``model``, ``module``, ``network``, ``net`` (the message names
        the attribute to pass).

    Examples
    --------
    >>> class Net:  # a stand-in for a fastai Learner holding a network
    ...     def __init__(self, model):
    ...         self.model = model
    >>> Net.__module__ = "fastai.learner"
    >>> network, note = unwrap_model(Net(abs))
    >>> network is abs, note.split(":")[0]
    (True, 'Net.model')
    >>> unwrap_model(abs)
    (<built-in function abs>, None)
    >>> Net.__module__ = "mylib"  # not a known wrapper, not callable, but holding a network
    >>> unwrap_model(Net(abs))
    Traceback (most recent call last):
    ...
    cdig.core.errors.CdigTypeError: model (Net) is not callable; it holds a model in Net.model — pass that
    """
    if isinstance(model, type):
        return model, None  # a class, not an instance: the engine says so
    if _from(model, "skorch", "braindecode"):
        return _skorch(model)
    if _from(model, "aeon") and (
        hasattr(model, "model_") or _from(model, "aeon.classification.deep_learning", "aeon.regression.deep_learning")
    ):
        return _aeon(model)
    if _from(model, "scikeras"):
        return _scikeras(model)
    if _from(model, "fastai", "tsai") and callable(getattr(model, "model", None)):
        return _learner(model)
    if not callable(model):
        attr = _held(model)
        if attr is not None:
            name = type(model).__name__
            raise CdigTypeError(f"model ({name}) is not callable; it holds a model in {name}.{attr} — pass that")
    return model, None
