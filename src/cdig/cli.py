"""The ``cdig`` command line (an edge: it uses the public API, and the core never imports it).

Each subcommand is one ``_add_<name>`` function that declares its arguments and the function that
runs it; :data:`COMMANDS` lists them, so ``explain`` or ``report`` are one function each. Heavy
imports (torch, scikit-learn, matplotlib) happen inside the runners, so ``cdig --help`` is instant
and works without them.

Domains and their parameters come from the domain registry (:func:`cdig.domains.registered`, each
class's ``__init__`` signature and type hints): ``--domain NAME[:KEY=VALUE,...]`` and
``--domain-file FILE`` (JSON or TOML) accept every registered domain and every constructor
parameter, with no list kept here (see :func:`parse_domain`).

Every line the command prints on stderr is one line, free of terminal escape codes: argument
errors, ``cdig COMMAND: error: ...`` (exit status 2), and warnings, ``cdig COMMAND: warning:
Category: message`` (each once).

Examples
--------
>>> parser = build_parser()
>>> args = parser.parse_args(["demo", "--out", "here", "--epochs", "3", "--steps", "auto"])
>>> args.command, args.out, args.epochs, args.steps
('demo', 'here', 3, 'auto')
>>> spec = parse_domain("stft:n_fft=64,hop=16")
>>> spec, spec.domain, spec.params
('stft:n_fft=64,hop=16', 'stft', {'n_fft': 64, 'hop_length': 16})
>>> parse_domain("bands:alpha=8-13,beta=13-30").params
{'bands': {'alpha': (8.0, 13.0), 'beta': (13.0, 30.0)}}
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .core.errors import CdigError, CdigValueError
from .domains import Domain, LinearBasis

__all__ = ["main", "build_parser", "COMMANDS", "parse_domain", "parse_domain_file", "DomainSpec", "PCABasis", "clean_line"]


class CliError(Exception):
    """A problem with the user's files or options: one line, ``cdig COMMAND: error: ...``, exit status 2."""


# --- one clean line per message -------------------------------------------------------------------
#: Terminal escape sequences (colours, bold: Keras' errors carry them) and other control characters.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")


def clean_line(text: str) -> str:
    """``text`` as one line without terminal escape codes or control characters.

    Examples
    --------
    >>> clean_line("\\x1b[1mInput 0 of layer\\x1b[0m is\\n   incompatible")
    'Input 0 of layer is incompatible'
    """
    return " ".join(_ESCAPES.sub("", str(text)).split())


class _Parser(argparse.ArgumentParser):
    """argparse with its errors in one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {clean_line(message)} (see '{self.prog} --help')\n")


@dataclass
class _Console:
    """What ``main`` prints besides results: warnings once each, in one line; nothing with ``--quiet``."""

    command: str = "cdig"
    quiet: bool = False
    verbose: bool = False
    seen: set[str] = field(default_factory=set)

    def showwarning(
        self, message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        if self.quiet:
            return
        text = clean_line(f"{category.__name__}: {message}")
        if self.command == "cdig explain" and _is_cdig_warning(category):
            text = _cli_words(text)
        if text in self.seen:
            return
        self.seen.add(text)
        where = f" ({filename}:{lineno})" if self.verbose else ""
        print(f"{self.command}: warning: {text}{where}", file=sys.stderr)


def _is_cdig_warning(category: type[Warning]) -> bool:
    from .core.errors import CdigWarning

    return issubclass(category, CdigWarning)


#: cdig.explain's argument names as ``cdig explain`` spells them (the rest map by '_' -> '-').
_API_WORDS = ((re.compile(r"\bn_steps\s*=\s*['\"]auto['\"]"), "--steps auto"), (re.compile(r"\bn_steps\b"), "--steps"))
_API_FLAGS = ("max_steps", "rtol", "internal_batch_size", "time_axis", "memory_budget")


def _cli_words(text: str) -> str:
    """A cdig warning's advice in the command line's words: ``n_steps='auto'`` -> ``--steps auto``, ``rtol`` -> ``--rtol``."""
    for pattern, flag in _API_WORDS:
        text = pattern.sub(flag, text)
    for name in _API_FLAGS:
        text = re.sub(rf"(?<![\w-]){name}\b", "--" + name.replace("_", "-"), text)
    return text


# --- argument types: argparse turns their ArgumentTypeError into "cdig demo: error: ..." and exit 2
def _int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
            raise argparse.ArgumentTypeError(f"{value} is out of range; expected an integer {bounds}")
        return value

    parse.__name__ = "integer"
    return parse


def _int_or_word(words: tuple[str, ...], minimum: int, what: str) -> Callable[[str], int | str]:
    """An argument that is one of ``words`` or an integer ``>= minimum`` (e.g. ``--steps auto``)."""

    def parse(text: str) -> int | str:
        if text.strip().lower() in words:
            return text.strip().lower()
        try:
            value = int(text)
        except ValueError:
            choices = " / ".join(repr(w) for w in words)
            raise argparse.ArgumentTypeError(f"{text!r} is neither {what} nor {choices}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be {what} (>= {minimum})")
        return value

    parse.__name__ = what
    return parse


_steps = _int_or_word(("auto",), 1, "a positive integer")


def _add_verbosity(p: argparse.ArgumentParser) -> None:
    """``--quiet`` / ``--verbose``, the same for every subcommand."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", action="store_true", help="print errors only (no progress, warnings, notes or summary line)")
    g.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print more: where each warning comes from, and the full traceback of an unexpected error",
    )


# --- domains from the command line ----------------------------------------------------------------
class PCABasis(LinearBasis):
    """Principal components of the channels, fitted on the explained batch: ``cdig explain --domain pca``.

    A :class:`cdig.LinearBasis` whose basis is scikit-learn's ``PCA`` fitted, in :meth:`fit`, on every
    time step of the batch it is given (``(N * T, C)`` points); one score per component.

    Parameters
    ----------
    n_components : int, optional
        Components kept, at most the number of channels (default: all). Fewer than the channels: the
        domain explains the input's projection on them (the result's note says so).
    whiten : bool
        Scale each component to unit variance (sklearn's ``PCA(whiten=True)``).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4, 3, 50))
    >>> PCABasis(n_components=2).fit(x).components_.shape
    (2, 3)
    """

    name = "pca"

    def __init__(self, n_components: int | None = None, whiten: bool = False) -> None:
        from .core.checks import check_bool, check_int

        super().__init__(None)
        self.n_components = check_int(n_components, "n_components", min=1, allow_none=True)
        self.whiten = check_bool(whiten, "whiten")

    def fit(self, x: np.ndarray) -> PCABasis:
        c = int(np.shape(x)[1])
        k = c if self.n_components is None else self.n_components
        if k > c:
            raise CdigValueError(f"pca: n_components={k} is more than the input's {c} channel(s); give at most {c}")
        try:
            from sklearn.decomposition import PCA
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("the pca domain fits scikit-learn's PCA, which is not installed: pip install 'cdig[ica]'") from None
        pooled = np.asarray(x, dtype=np.float64).transpose(0, 2, 1).reshape(-1, c)
        self.components = PCA(n_components=k, whiten=self.whiten, svd_solver="full").fit(pooled)
        super().fit(x)
        return self

    def batch_dependent(self) -> str | None:
        return "the pca domain fits a PCA on each batch it explains; fit one on the data set and pass cdig.LinearBasis(pca)"


def _domain_table() -> dict[str, Callable[..., Domain]]:
    """Every domain the command line makes, by name: the registered ones (those made from a name or
    from ``fs`` first, in :func:`cdig.domains.names` order), then :class:`PCABasis` unless a registered
    domain is called ``pca``."""
    from .domains import names, registered

    reg = registered()
    table: dict[str, Callable[..., Domain]] = {n: reg[n] for n in dict.fromkeys([*names(with_fs=True), *reg])}
    table.setdefault("pca", PCABasis)
    return table


def _parameters(cls: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The constructor parameters a keyword can set (positional-only and ``*args``/``**kw`` left out)."""
    init = getattr(cls, "__init__", None)
    if init is None or init is object.__init__:
        return {}
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name: p for p in list(inspect.signature(init).parameters.values())[1:] if p.kind in kinds}


def _hints(cls: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - a hint that does not evaluate: the parameter takes any value
        return {}


def _kinds(hint: Any) -> set[str] | None:
    """What a type hint accepts: a set of ``int``, ``float``, ``str``, ``bool``, ``none``, ``list``,
    ``mapping``, or None for anything (``Any``, arrays, objects)."""
    if hint is None or hint is Any:
        return None
    if hint is type(None):
        return {"none"}
    simple = {bool: "bool", int: "int", float: "float", str: "str"}
    if hint in simple:
        return {simple[hint]}
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        out: set[str] = set()
        for arg in typing.get_args(hint):
            k = _kinds(arg)
            if k is None:
                return None
            out |= k
        return out
    if origin is typing.Literal:
        return {simple.get(type(v), "str") for v in typing.get_args(hint)}
    import collections.abc as abc

    if origin in (dict, abc.Mapping, abc.MutableMapping) or hint in (dict, abc.Mapping):
        return {"mapping"}
    if origin in (list, tuple, abc.Sequence) or hint in (list, tuple):
        return {"list"}
    return None


_KIND_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "text",
    "bool": "true/false",
    "none": "none",
    "list": "a list [a,b,...]",
    "mapping": "NAME=LOW-HIGH entries",
}


def _kind_text(kinds: set[str] | None) -> str:
    if kinds is None:
        return "any value (a .npy file for an array)"
    order = [k for k in _KIND_WORDS if k in kinds and not (k == "int" and "float" in kinds)]
    return " or ".join(_KIND_WORDS[k] for k in order)


class _SpecError(ValueError):
    """A bad ``--domain`` or ``--domain-file`` entry (the caller adds where it came from)."""


#: ``LOW-HIGH`` (also ``LOW:HIGH`` or ``LOW..HIGH``): two non-negative numbers, e.g. ``8-13``, ``0.5-4``, ``1e-3-2``.
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*(?:-|:|\.\.)\s*({_NUMBER})\s*$")


def _split_items(text: str) -> list[str]:
    """``text`` split at commas outside brackets: ``"a=1,b=[2,3]"`` -> ``["a=1", "b=[2,3]"]``."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [s.strip() for s in items if s.strip()]


def _literal(text: str) -> Any:
    """A value typed on the command line: none, true/false, an integer, a number, a list ``[a,b]``, or text."""
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        return [_literal(s) for s in _split_items(t[1:-1])]
    low = t.lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for convert in (int, float):
        try:
            return convert(t)
        except ValueError:
            pass
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]
    return t


def _coerce(value: Any, kinds: set[str] | None, text: str | None, what: str) -> Any:
    """``value`` (parsed from ``text`` when typed on the command line) as the parameter's hint accepts it."""
    if isinstance(value, str) and value.lower().endswith((".npy", ".npz")) and (kinds is None or "list" in kinds):
        return _read_array(value, what)
    if kinds is None:
        return tuple(value) if isinstance(value, list) else value
    ok = {
        type(None): "none",
        bool: "bool",
        int: "int",
        float: "float",
        str: "str",
        list: "list",
        tuple: "list",
        dict: "mapping",
    }.get(type(value))
    if ok in kinds:
        return tuple(value) if isinstance(value, list) else value
    if ok == "int" and "float" in kinds:
        return float(value)
    if text is not None and "str" in kinds and ok in ("int", "float", "bool", "none"):
        return text.strip()  # a name that reads as a number or a word: e.g. window=1
    shown = text.strip() if text is not None else repr(value)
    raise _SpecError(f"{what}={shown} is not {_kind_text(kinds)}")


def _read_array(path: str, what: str) -> np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise _SpecError(f"{what}={path}: cannot read the array ({clean_line(str(e))})") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        if len(loaded.files) != 1:
            raise _SpecError(f"{what}={path}: the .npz holds {len(loaded.files)} arrays; give an .npy file or an .npz with one")
        return loaded[loaded.files[0]]


def _entries_parameter(params: dict[str, inspect.Parameter], hints: dict[str, Any]) -> tuple[str, Any] | None:
    """The one parameter that takes a mapping (FrequencyBands' ``bands``) and the hint of its values:
    keys that are not parameters fill it (``bands:alpha=8-13``)."""
    found = []
    for name in params:
        kinds = _kinds(hints.get(name))
        if kinds is not None and "mapping" in kinds:
            found.append(name)
    if len(found) != 1:
        return None
    hint = hints[found[0]]
    for arg in (hint, *typing.get_args(hint)):  # Mapping[str, V] or Mapping[str, V] | None
        args = typing.get_args(arg)
        if _kinds(arg) == {"mapping"} and len(args) == 2:
            return found[0], args[1]
    return found[0], None


def _entry(value: Any, text: str | None, value_hint: Any, what: str) -> Any:
    """One ``NAME=LOW-HIGH`` entry of a mapping parameter (a pair of numbers for ``tuple[float, float]``)."""
    pair = typing.get_origin(value_hint) is tuple and len(typing.get_args(value_hint)) == 2
    if not pair:
        return _literal(text) if text is not None else value
    if text is not None:
        m = _RANGE.match(text)
        if m:
            return float(m.group(1)), float(m.group(2))
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return float(value[0]), float(value[1])
    shown = text if text is not None else repr(value)
    raise _SpecError(f"{what}={shown} is not LOW-HIGH (two numbers, e.g. {what}=8-13)")


def _accepted(name: str) -> str:
    """The parameters of domain ``name`` as an error message lists them."""
    cls = _domain_table()[name]
    params, hints = _parameters(cls), _hints(cls)
    if not params:
        return f"{name} takes no parameters (besides name=)"
    shown = []
    for p in params.values():
        default = "required" if p.default is p.empty else f"default {p.default!r}"
        shown.append(f"{p.name} ({_kind_text(_kinds(hints.get(p.name)))}, {default})")
    entries = _entries_parameter(params, hints)
    more = f", or NAME=LOW-HIGH entries of {entries[0]}" if entries else ""
    return f"parameters of {name}: {', '.join(shown)}{more}; and name= (the result's name)"


def _resolve(name: str, items: Sequence[tuple[str, Any]], from_text: bool) -> dict[str, Any]:
    """The constructor keywords of domain ``name`` for ``items`` (KEY, VALUE) pairs: typed from text
    (``--domain``) or as a JSON/TOML file holds them. ``name`` is the result's name."""
    cls = _domain_table()[name]
    params, hints = _parameters(cls), _hints(cls)
    entries_of = _entries_parameter(params, hints)
    out: dict[str, Any] = {}
    entries: dict[str, Any] = {}
    for key, raw in items:
        text = raw if from_text else None
        value = _literal(raw) if from_text else raw
        if key in params:
            pname = key
        elif key == "name":
            if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][\w.+-]*", value):
                raise _SpecError(f"{name}: name={raw} is not a name (letters, digits, _ . + -)")
            out["name"] = value
            continue
        elif (
            entries_of is not None
            and key
            and ((from_text and _RANGE.match(raw)) or (not from_text and isinstance(raw, (list, tuple))))
        ):
            if key in entries:
                raise _SpecError(f"{name}: {key} is given twice")
            entries[key] = _entry(value, text, entries_of[1], key)
            continue
        else:
            matches = [p for p in params if key and p.startswith(key)]  # unique prefixes: hop=16 for hop_length
            if len(matches) != 1:
                raise _SpecError(f"{name}: unknown parameter {key!r}; {_accepted(name)}")
            pname = matches[0]
        if pname in out:
            raise _SpecError(f"{name}: {pname} is given twice")
        kinds = _kinds(hints.get(pname))
        if entries_of is not None and pname == entries_of[0] and isinstance(value, Mapping):
            out[pname] = {str(k): _entry(v, None, entries_of[1], str(k)) for k, v in value.items()}
            continue
        try:
            out[pname] = _coerce(value, kinds, text, pname)
        except _SpecError as e:
            raise _SpecError(f"{name}: {e}; {_accepted(name)}") from None
    if entries:
        assert entries_of is not None
        if entries_of[0] in out:
            raise _SpecError(f"{name}: give {entries_of[0]} either as {entries_of[0]}= or as NAME=LOW-HIGH entries, not both")
        out[entries_of[0]] = entries
    missing = [p.name for p in params.values() if p.default is p.empty and p.name not in out and p.name != "fs"]
    if missing:
        need = missing[0]
        raise _SpecError(
            f"{name} needs {need} ({_kind_text(_kinds(hints.get(need)))}): e.g. --domain {name}:{need}=VALUE; {_accepted(name)}"
        )
    return out


class DomainSpec(str):
    """A domain asked for on the command line: the text as given (normalised), the domain's
    registered ``domain`` name and its constructor keywords ``params`` (with ``name``: the result's name)."""

    domain: str
    params: dict[str, Any]

    def __new__(cls, text: str, domain: str, params: dict[str, Any]) -> DomainSpec:
        self = super().__new__(cls, text)
        self.domain, self.params = domain, params
        return self


def parse_domain(text: str) -> DomainSpec:
    """``--domain NAME[:KEY=VALUE,KEY=VALUE,...]``: a registered domain and its constructor parameters.

    The name is case-blind; the parameters are the constructor's (a unique prefix will do:
    ``hop=16`` for ``hop_length``), values typed as none, true/false, integers, numbers, lists
    ``[a,b]``, text, or a ``.npy`` file for an array. A domain whose constructor takes a mapping
    (the bands of ``bands``) takes its entries as ``NAME=LOW-HIGH``. ``name=`` renames the result
    (two STFTs: ``stft:n_fft=16,name=stft16``). ``fs`` comes from ``--fs`` unless given.

    Raises
    ------
    argparse.ArgumentTypeError
        One line naming the domain, the key or value, and the accepted parameters.

    Examples
    --------
    >>> parse_domain("Wavelet:wavelet=db4,level=5").params
    {'wavelet': 'db4', 'level': 5}
    >>> parse_domain("stft:nfft=64")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: stft: unknown parameter 'nfft'; parameters of stft: n_fft (an integer, required), ...
    """
    head, colon, rest = text.partition(":")
    name = head.strip().lower()
    table = _domain_table()
    if name not in table:
        raise argparse.ArgumentTypeError(f"unknown domain {head.strip()!r}; accepted: {', '.join(table)}")
    items = []
    for item in _split_items(rest):
        key, eq, value = item.partition("=")
        if not eq:
            raise argparse.ArgumentTypeError(f"{name}: {item!r} is not KEY=VALUE; {_accepted(name)}")
        items.append((key.strip(), value.strip()))
    try:
        params = _resolve(name, items, from_text=True)
    except _SpecError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return DomainSpec(f"{name}:{rest.strip()}" if items else name, name, params)


def parse_domain_file(text: str) -> list[DomainSpec]:
    """``--domain-file FILE``: domains and their parameters as a mapping in a JSON (``.json``) or TOML
    (``.toml``) file, the same as ``--domain`` takes them, with the file's types.

    Each entry is ``NAME: {KEY: VALUE, ...}`` (TOML: a table ``[NAME]``). An entry whose name is not a
    domain's names the result and gives the domain as ``domain = "stft"``.

    Examples
    --------
    >>> import json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "domains.json")
    >>> _ = open(path, "w").write(json.dumps({"stft16": {"domain": "stft", "n_fft": 16}, "bands": {"alpha": [8, 13]}}))
    >>> [(s.domain, s.params) for s in parse_domain_file(path)]
    [('stft', {'n_fft': 16, 'name': 'stft16'}), ('bands', {'bands': {'alpha': (8.0, 13.0)}})]
    """
    import json

    path = Path(text)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise argparse.ArgumentTypeError(f"{path}: give a .json or .toml file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise argparse.ArgumentTypeError(f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        if suffix == ".json":
            data = json.loads(raw.decode("utf-8"))
        else:
            try:
                import tomllib
            except ImportError:  # pragma: no cover - Python 3.10
                raise argparse.ArgumentTypeError(f"{path}: TOML needs Python 3.11 or later; give a .json file") from None
            data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise argparse.ArgumentTypeError(f"{path}: not readable {suffix[1:].upper()} ({clean_line(str(e))})") from None
    if not isinstance(data, Mapping) or not data:
        raise argparse.ArgumentTypeError(
            f'{path}: expected a mapping of domain names to their parameters, e.g. {{"stft": {{"n_fft": 64}}}}'
        )
    table = _domain_table()
    specs = []
    for key, entry in data.items():
        entry = {} if entry is None else entry
        if not isinstance(entry, Mapping):
            raise argparse.ArgumentTypeError(f"{path}: {key}: expected a mapping of parameters, got {type(entry).__name__}")
        domain = str(entry.get("domain", key)).strip().lower()
        if domain not in table:
            what = f"domain {entry['domain']!r}" if "domain" in entry else f"{key!r} is not a domain (give domain = NAME)"
            raise argparse.ArgumentTypeError(f"{path}: unknown {what}; accepted: {', '.join(table)}")
        items = [(str(k), v) for k, v in entry.items() if k != "domain"]
        if domain != str(key).strip().lower() and "name" not in entry:
            items.append(("name", str(key)))
        try:
            params = _resolve(domain, items, from_text=False)
        except _SpecError as e:
            raise argparse.ArgumentTypeError(f"{path}: {e}") from None
        specs.append(DomainSpec(f"{path}:{key}", domain, params))
    return specs


def _build_domains(specs: Sequence[DomainSpec], fs: float | None) -> tuple[list[Domain], list[str]]:
    """The domain objects of ``specs`` (``fs`` given to those that take it) and notes for the summary."""
    table = _domain_table()
    doms: list[Domain] = []
    notes: list[str] = []
    for spec in specs:
        cls = table[spec.domain]
        kwargs = dict(spec.params)
        rename = kwargs.pop("name", None)
        takes_fs = "fs" in _parameters(cls)
        if takes_fs and "fs" not in kwargs:
            if fs is not None:
                kwargs["fs"] = fs
            elif getattr(cls, "needs_fs", False) or _parameters(cls)["fs"].default is inspect.Parameter.empty:
                raise CliError(f"the {spec.domain} domain needs the sampling rate: give --fs HZ")
        try:
            dom = cls(**kwargs)
        except (CdigError, TypeError, ValueError) as e:
            raise CliError(f"--domain {spec}: {_squash(e)}; {_accepted(spec.domain)}") from None
        dom, note = _below_nyquist(dom, spec, cls)
        if note:
            notes.append(note)
        if rename:
            dom.name = rename
        doms.append(dom)
    seen: dict[str, str] = {}
    for dom, spec in zip(doms, specs):
        if dom.name in seen:
            raise CliError(
                f"--domain {seen[dom.name]} and --domain {spec} both make a result named {dom.name!r}; "
                f"name one of them: --domain {spec.domain}:...,name={dom.name}2"
            )
        seen[dom.name] = str(spec)
    return doms, notes


def _below_nyquist(dom: Domain, spec: DomainSpec, cls: Callable[..., Any]) -> tuple[Domain, str | None]:
    """Bands above the Nyquist frequency: the default bands (EEG rhythms) are left out with a note, the
    user's are an error that says how to choose them, both before any model is loaded."""
    from .domains import FrequencyBands

    if not isinstance(dom, FrequencyBands) or dom.fs is None:
        return dom, None
    nyq = dom.fs / 2
    above = [n for n, (lo, _) in dom.bands.items() if lo > nyq * (1 + 1e-9)]
    if not above:
        return dom, None
    shown = ", ".join(f"{n} [{dom.bands[n][0]:g}, {dom.bands[n][1]:g}) Hz" for n in above)
    how = f"choose bands below it: --domain {spec.domain}:NAME=LOW-HIGH,... (e.g. {spec.domain}:low=0.5-4,high=4-{nyq:g})"
    entries_given = "bands" in spec.params
    kept = {n: e for n, e in dom.bands.items() if n not in above}
    if entries_given or not kept:
        raise CliError(f"--domain {spec}: band(s) {shown} start above the Nyquist frequency {nyq:g} Hz (--fs {dom.fs:g}); {how}")
    new = cls(kept, fs=dom.fs, remainder=dom.remainder)
    return new, (
        f"--domain {spec}: the default band(s) {shown} start above the Nyquist frequency {nyq:g} Hz (--fs {dom.fs:g}) "
        f"and are left out; {how}"
    )


# --- subcommands --------------------------------------------------------------------------------
def _add_demo(sub: Any) -> None:
    from .demo import DEFAULT_EPOCHS, DEFAULT_STEPS
    from .demo_real import REAL_EPOCHS

    p = sub.add_parser(
        "demo",
        help="train a small CNN on the shipped synthetic data set and explain it in time, Fourier and ICA domains",
        description=(
            "Train a small 1-D CNN (seconds on a CPU) on cdig's shipped synthetic data set, whose class is "
            "decided by an 8-12 Hz oscillation of one independent source; explain held-out samples in the "
            "time, Fourier and ICA domains; check that the explanations recover the planted band and source."
        ),
        epilog=(
            "Writes into --out: time.npz, fourier.npz, ica.npz (cdig.Attribution.load reads them), "
            "explained.npz (the explained samples), summary.json (accuracy, completeness deltas, "
            "planted-truth checks, settings) and time.png, fourier.png, ica.png, fourier_mean.png. "
            "Needs torch, scikit-learn and matplotlib: pip install 'cdig[all]'. "
            "With --real: time.npz, fourier.npz, bands.npz, explained.npz, summary.json (accuracy, deltas, "
            "attribution vs power per band) and time.png, fourier.png, bands.png, band_shares.png."
        ),
    )
    p.add_argument(
        "--real",
        action="store_true",
        help="run the real-data demo instead: a CNN on the ACSF1 appliance power curves (UCR archive, "
        "read from sktime's installed files), explained in time, Fourier and named frequency "
        "bands; needs pip install 'cdig[examples]'",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=_DefaultOut("cdig-demo"),
        help="folder for the results, created if needed (default: cdig-demo, or cdig-demo-real with --real)",
    )
    p.add_argument(
        "--samples",
        metavar="N",
        type=_int_at_least(2, 100),
        default=32,
        help="held-out samples to explain, half of each class (with --real: taken in turn from the 10 "
        "classes), 2-100 (default: %(default)s)",
    )
    p.add_argument(
        "--epochs",
        metavar="E",
        type=_int_at_least(1),
        default=None,
        help=f"training epochs (default: {DEFAULT_EPOCHS}, or {REAL_EPOCHS} with --real)",
    )
    p.add_argument(
        "--steps",
        metavar="S",
        type=_steps,
        default=DEFAULT_STEPS,
        help="integration points per sample (Gauss-Legendre), or 'auto' for the adaptive rule (default: %(default)s)",
    )
    p.add_argument(
        "--seed", type=_int_at_least(0), default=0, help="seed of the data split, the training and the ICA (default: %(default)s)"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the results of an earlier cdig run in --out (only the files cdig wrote there)",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")
    _add_verbosity(p)
    p.set_defaults(run=_run_demo)


class _DefaultOut(str):
    """``--out``'s default, told apart from the same name typed by the user (``--real`` changes it)."""


def _prepare_out(out: str, force: bool, clear: bool = False) -> None:
    """Check ``--out`` before any work (:func:`cdig.results.check_out_dir`); with ``force`` and
    ``clear``, the files of the earlier cdig run there are removed now."""
    from .results import ResultWriter, check_out_dir

    try:
        if check_out_dir(out, overwrite=force) and force and clear:
            ResultWriter(out, overwrite=True)
    except CdigError as e:
        raise CliError(f"--out {_squash(e)}") from None


@contextmanager
def _interrupt_after() -> Iterator[None]:
    """Hold a Ctrl-C back until the block ends, then raise it. A KeyboardInterrupt raised while torch or
    TensorFlow imports or loads a model runs through their C++ (pybind11) and aborts the process
    (SIGABRT, no message) instead of unwinding; the user waits for the load to finish instead."""
    import signal
    import threading

    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield  # not ours to change: a thread, or an embedding program's own handler
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _run_demo(args: argparse.Namespace) -> int:
    from .backends import get_backend_by_name

    out = ("cdig-demo-real" if args.real else "cdig-demo") if isinstance(args.out, _DefaultOut) else str(args.out)
    # --out first, before torch is imported (seconds): a refused folder costs nothing; cleared after the import
    _prepare_out(out, args.force)
    with _interrupt_after():  # torch's import, see there; run_demo reports a missing torch itself
        try:
            get_backend_by_name("torch")
        except (ImportError, CdigError):
            pass
    _prepare_out(out, args.force, clear=True)  # the demo's writer is made before the training
    quiet = getattr(args, "quiet", False)
    if args.real:
        from .demo_real import REAL_EPOCHS, run_real_demo

        run_real_demo(
            out,
            n_explain=args.samples,
            epochs=args.epochs or REAL_EPOCHS,
            n_steps=args.steps,
            seed=args.seed,
            progress=args.progress and not quiet,
            verbose=not quiet,
        )
        return 0
    from .demo import DEFAULT_EPOCHS, run_demo

    run_demo(
        out,
        n_explain=args.samples,
        epochs=args.epochs or DEFAULT_EPOCHS,
        n_steps=args.steps,
        seed=args.seed,
        progress=args.progress and not quiet,
        verbose=not quiet,
    )
    return 0


# --- explain --------------------------------------------------------------------------------------
_EXPLAIN_DESCRIPTION = """\
Explain a saved model's output on a data file with cross-domain Integrated Gradients, in the time
domain and in other domains (Fourier spectrum, independent components, ...), and write the maps,
a summary and figures into one folder.

The target is, by default, the model's predicted class of each sample (the argmax of its output)
when the output has more than one column, and the output itself when it is one scalar per sample.
Attributions start from the zero signal (--baseline zero) or the mean of the explained samples
(--baseline mean); their completeness error (delta) is reported per domain in summary.json."""

_EXPLAIN_EPILOG = """\
MODEL FORMATS
  .pt, .pth       TorchScript: torch.jit.save(torch.jit.script(model), "model.pt")
  .pt2            torch.export: torch.export.save(torch.export.export(model, (x,),
                  dynamic_shapes=...), "model.pt2"); give it a dynamic batch dimension
  .keras, .h5     Keras: model.save("model.keras")
  DIR/            a TensorFlow SavedModel folder (saved_model.pb): model.export("DIR") in
                  Keras 3, or tf.saved_model.save; its 'serve' endpoint or 'serving_default'

SECURITY: a model file is code: explain only models you trust.
  Loading or running a model may run what its author put in it. cdig refuses, unless you
  give --trust-model: a .pt2 holding pickles (weights, constants or sample inputs that are
  not plain tensors) or compiled code; a SavedModel whose functions touch files, run Python
  or use the network (WriteFile, ReadFile, PyFunc, ...); Keras Lambda layers (Python
  bytecode). TorchScript runs TorchScript only. No check makes an untrusted model safe:
  run those in a sandbox. See docs/security.md.

DATA FORMATS
  .npy            the array as saved: (N, C, T) for PyTorch, (N, T, C) for Keras, or (N, T)
  .npz            one array of the archive: --npz-key NAME (not needed if it holds one)
  .csv            one series per row, comma-separated, no header: (N, T); with --channels C
                  each row holds C consecutive series of equal length: (N, C, T)
  .ts             UCR/UEA (sktime) time-series file, equal-length series without '?';
                  read as (N, C, T), class labels ignored
  CSV and .ts data are given to Keras and SavedModel models channels last, as (N, T, C).

OUTPUT (in --out DIR: a new or empty folder, or one cdig wrote; --force replaces
        the files of an earlier cdig run there, never files cdig did not write)
  DOMAIN.npz      one map per domain (cdig.Attribution.load reads it)
  DOMAIN.nc       the same as NetCDF, when xarray is installed
  DOMAIN.png      a figure of the first explained sample in that domain
  summary.png     every domain of the first explained sample on one page
  summary.json    per-domain max |delta| and relative delta, targets, settings, files
  ranking.md      with --rank: the domains ranked by how well their maps explain the model
                  (docs/ranking.md explains each column); ranking.png its figure
  .cdig-results.json  the marker: the files cdig wrote there

EXAMPLES
  cdig explain model.pt X_test.npy --fs 250 --out results
  cdig explain model.pt2 data.npz --npz-key X --domain fourier --domain ica --target 1
  cdig explain model.keras ECG200_TEST.ts --domain time --domain fourier --steps auto
  cdig explain model.pt signals.csv --channels 3 --samples 10 --baseline mean
  cdig explain model.pt eeg.npy --fs 128 --domain "bands:alpha=8-13,beta=13-30"
  cdig explain model.pt x.npy --domain stft:n_fft=64,hop=16 --steps auto --rtol 1e-4
  cdig explain hf_model.pt2 x.npy --output logits --domain time
  cdig explain model.pt x.npy --fs 250 --domain time --domain fourier --domain dct --rank

Exit status: 0 on success, 2 for bad options, files, a refused model or a full disk (one
line on stderr), 1 when a needed package (torch, keras, scikit-learn, matplotlib) is
missing or on an unexpected error (--verbose shows its traceback), 130 when interrupted
(Ctrl-C). Warnings are one line each: "cdig explain: warning: Category: message"."""

#: Written into the epilog, below each domain's parameters (the examples are tested to parse).
_DOMAIN_SYNTAX = """  --domain NAME[:KEY=VALUE,...], repeatable; KEY is a parameter above (a unique prefix will
  do: hop=16), VALUE an integer, a number, true/false, none, text, a list [a,b] or a .npy
  file for an array; name=NAME renames the result (two STFTs: stft:n_fft=16,name=stft16);
  fs comes from --fs. Bands are NAME=LOW-HIGH in Hz, the interval [LOW, HIGH).
  --domain-file FILE.json or FILE.toml holds the same as a mapping, typed, e.g.
    {"stft": {"n_fft": 64, "hop_length": 16}, "bands": {"alpha": [8, 13]}}
    [trend]                      # TOML; a table not named after a domain names
    period = 12                  # the result and says domain = "NAME"
  e.g. --domain stft:n_fft=64,hop=16  --domain "bands:alpha=8-13,beta=13-30"
       --domain trend:period=12  --domain wavelet:wavelet=db4,level=5  --domain pca:n_components=3"""

#: The examples of :data:`_DOMAIN_SYNTAX`, for the test that they parse.
DOMAIN_EXAMPLES = (
    "stft:n_fft=64,hop=16",
    "bands:alpha=8-13,beta=13-30",
    "trend:period=12",
    "wavelet:wavelet=db4,level=5",
    "pca:n_components=3",
    "stft:n_fft=16,name=stft16",
)


def _domains_epilog() -> str:
    """The DOMAINS section of ``cdig explain --help``, from the registry: each domain and its parameters."""
    lines = ["DOMAINS (default: time and fourier)"]
    table = _domain_table()
    for name, cls in table.items():
        params, hints = _parameters(cls), _hints(cls)
        shown = []
        entries = _entries_parameter(params, hints)
        for p in params.values():
            if p.name == "fs":
                continue
            if entries and p.name == entries[0]:
                default = "EEG rhythms" if p.default is None else repr(p.default)
                shown.append(f"NAME=LOW-HIGH entries (default: {default})")
            elif p.default is p.empty:
                shown.append(f"{p.name} (required)")
            else:
                shown.append(f"{p.name}={p.default!r}")
        if getattr(cls, "needs_fs", False):
            shown.insert(0, "needs --fs")
        text = ", ".join(shown) or "no parameters"
        doc = (inspect.getdoc(cls) or "").split("\n")[0].rstrip(".").replace("``", "")
        lines.append(f"  {name:<10} {doc}")
        lines.append(f"  {'':<10}   {text}")
    return "\n".join([*lines, _DOMAIN_SYNTAX, ""])


_target = _int_or_word(("auto", "predicted", "argmax"), 0, "an output index")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{value} must be a positive finite number")
    return value


def _output_selector(text: str) -> int | str:
    """``--output``: an index (an integer) or a key of the model's structured output."""
    t = text.strip()
    if not t:
        raise argparse.ArgumentTypeError("give a key (e.g. logits) or an index (e.g. 0)")
    return int(t) if re.fullmatch(r"[+-]?\d+", t) else t


def _rtol(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{value:g} is out of range; expected a number in (0, 1), e.g. 1e-3")
    return value


def _add_explain(sub: Any) -> None:
    from .core.checks import MAX_STEPS
    from .core.rules import PERTURBATION_METHODS, RULES

    p = sub.add_parser(
        "explain",
        help="explain a saved model (TorchScript, torch.export, Keras) on a data file (.npy, .npz, .csv, .ts)",
        description=_EXPLAIN_DESCRIPTION,
        epilog=_domains_epilog() + "\n" + _EXPLAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="the model file: .pt/.pth, .pt2, .keras, .h5, or a SavedModel folder; a model file is code: "
        "explain only models you trust",
    )
    p.add_argument("data", metavar="DATA", help="the data file: .npy, .npz, .csv or .ts")
    names = list(_domain_table())
    p.add_argument(
        "--domain",
        dest="domains",
        metavar="NAME[:KEY=VALUE,...]",
        action="append",
        type=parse_domain,
        help=f"a domain to explain in, with its parameters, repeatable: {', '.join(names)} "
        "(see DOMAINS below; default: time and fourier)",
    )
    p.add_argument(
        "--domain-file",
        dest="domain_files",
        metavar="FILE",
        action="append",
        type=parse_domain_file,
        help="domains and their parameters from a .json or .toml file (a mapping NAME: {KEY: VALUE}), after "
        "the --domain ones; repeatable",
    )
    p.add_argument(
        "--target",
        type=_target,
        default="auto",
        help="output index to explain for every sample, 'predicted' (the predicted class; "
        "'argmax' is its old, deprecated name) or "
        "'auto': the predicted class for outputs with several columns, the output itself when scalar "
        "(default: %(default)s)",
    )
    out_sel = p.add_mutually_exclusive_group()
    out_sel.add_argument(
        "--output",
        dest="output",
        metavar="KEY_OR_INDEX",
        type=_output_selector,
        default=None,
        help="for a model returning a structure (dict, tuple, Hugging Face ModelOutput): the tensor to explain, "
        "a key (logits) or an index (0) (default: its first tensor); --target then indexes that tensor",
    )
    out_sel.add_argument(
        "--output-key",
        dest="output",
        metavar="KEY",
        default=None,
        help="the same, always read as a key (for a key that looks like a number, e.g. '0')",
    )
    hz = [n for n, c in _domain_table().items() if getattr(c, "needs_fs", False)]
    p.add_argument(
        "--fs",
        metavar="HZ",
        type=_positive_float,
        default=None,
        help=f"sampling rate in Hz: coordinates in s and Hz (needed by the {', '.join(hz)} domain)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default="cdig-explain",
        help="folder for the results: new, empty, or written by cdig; checked before anything is loaded (default: %(default)s)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the results of an earlier cdig run in --out (only the files cdig wrote there)",
    )
    p.add_argument(
        "--trust-model",
        action="store_true",
        help="load a model file even when loading or running it can run code from the file (pickles, "
        "compiled code, file or Python ops, Keras Lambda layers): only for files from someone you trust",
    )
    p.add_argument(
        "--steps",
        metavar="S",
        type=_steps,
        default=50,
        help="points per sample of the fixed rule (--method), or 'auto' for the adaptive rule (default: %(default)s)",
    )
    p.add_argument(
        "--method",
        metavar="METHOD",
        choices=[*sorted(RULES), *PERTURBATION_METHODS],
        default="gausslegendre",
        help=f"Integrated Gradients' fixed integration rule: {', '.join(sorted(RULES))} (ignored with --steps auto); "
        f"or a perturbation method, which needs no gradients: {', '.join(PERTURBATION_METHODS)} (each domain's "
        "coefficients are perturbed one at a time; see docs/perturbation.md) (default: %(default)s)",
    )
    p.add_argument(
        "--draws",
        metavar="K",
        type=_int_at_least(1),
        default=None,
        help="--method shapley: permutations sampled (default: exact values when a domain has at most 14 "
        "coefficients per sample, else 32 permutations); --method rise: masks (default: 1000)",
    )
    p.add_argument(
        "--seed",
        metavar="S",
        type=_int_at_least(0),
        default=0,
        help="seed of the sampled permutations or masks of --method shapley or rise (default: %(default)s)",
    )
    p.add_argument(
        "--rtol",
        metavar="R",
        type=_rtol,
        default=1e-3,
        help="with --steps auto: the tolerance of each map's estimated relative error and of its completeness "
        "(default: %(default)g)",
    )
    p.add_argument(
        "--max-steps",
        metavar="M",
        type=_int_at_least(15, MAX_STEPS),
        default=4096,
        help="with --steps auto: most gradient evaluations per sample (default: %(default)s)",
    )
    p.add_argument(
        "--baseline",
        choices=("zero", "mean"),
        default="zero",
        help="the reference signal: zeros, or the mean of the explained samples (default: %(default)s)",
    )
    p.add_argument(
        "--time-axis",
        metavar="AXIS",
        type=int,
        default=None,
        help="axis of the data holding time (default: -1 for PyTorch, 1 for Keras; 1 for 2-D data)",
    )
    p.add_argument(
        "--internal-batch-size",
        metavar="B",
        type=_int_at_least(1),
        default=None,
        dest="batch_size",
        help="path points per forward/backward pass, as internal_batch_size in cdig.explain "
        "(default: as many as fit 2**24 values)",
    )
    p.add_argument(
        "--batch-size",
        metavar="B",
        type=_int_at_least(1),
        default=None,
        dest="old_batch_size",
        help="deprecated name of --internal-batch-size (it counts path points, not data rows)",
    )
    p.add_argument(
        "--samples", metavar="N", type=_int_at_least(1), default=None, help="explain only the first N samples (default: all)"
    )
    p.add_argument("--npz-key", metavar="KEY", default=None, help="which array of an .npz data file")
    p.add_argument(
        "--channels",
        metavar="C",
        type=_int_at_least(1),
        default=None,
        help="CSV data: split each row into C series, giving (N, C, T) (default: univariate (N, T))",
    )
    p.add_argument(
        "--rank",
        action="store_true",
        help="also rank the explained domains by how sparse and faithful their maps are (cdig.ranking.rank_domains "
        "on the maps written): writes ranking.md (and ranking.png) and prints the table",
    )
    p.add_argument("--no-figures", dest="figures", action="store_false", help="write no figures")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")
    _add_verbosity(p)
    p.set_defaults(run=_run_explain)


def _check_rule(args: argparse.Namespace) -> list[str]:
    """--steps, --method, --rtol, --max-steps as cdig.explain checks them (before any loading); notes for
    options that the chosen rule ignores."""
    from .core.checks import check_steps
    from .core.rules import PERTURBATION_METHODS, get_rule

    if args.method in PERTURBATION_METHODS:
        if args.draws is not None and args.method == "occlusion":
            raise CliError("--draws counts the permutations of --method shapley or the masks of rise; occlusion draws nothing")
        if args.steps != 50 or args.rtol != 1e-3 or args.max_steps != 4096:
            return [f"--steps, --rtol and --max-steps set Integrated Gradients' integral; ignored with --method {args.method}"]
        return []
    if args.draws is not None or args.seed != 0:
        raise CliError(
            f"--draws and --seed apply to a sampled perturbation method (--method shapley or rise); --method {args.method} "
            "is Integrated Gradients, which draws nothing"
        )
    try:
        check_steps(args.steps, args.method, args.rtol, args.max_steps)
        if not isinstance(args.steps, str):
            get_rule(args.method, args.steps)
    except CdigError as e:
        raise CliError(f"--steps {args.steps} --method {args.method}: {_cli_words(_squash(e))}") from None
    notes = []
    if args.steps == "auto" and args.method != "gausslegendre":
        notes.append(f"--method {args.method} is ignored with --steps auto (the adaptive rule is Gauss-Kronrod)")
    if args.steps != "auto" and (args.rtol != 1e-3 or args.max_steps != 4096):
        notes.append("--rtol and --max-steps apply to --steps auto only; ignored with a fixed number of steps")
    return notes


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, Mapping)


def _predict(model: Any, framework: str, x: np.ndarray, batch_size: int, output: Any) -> np.ndarray:
    """The model's output on ``x`` (:func:`cdig.io.predict`), the tensor ``output`` selects from a
    structured one (a key, an index; None: the first tensor), as cdig.explain will select it."""
    from .core.outputs import ModelCall
    from .io import predict

    if output is None and framework != "keras":  # the backends pick the first tensor of a structure themselves
        return predict(model, framework, x, batch_size)
    call = ModelCall(output=output)

    def selected(inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return call(lambda i, *a: model(i, *a, **kwargs), inputs, args, _is_tensor)

    return predict(selected, framework, x, batch_size)


def _run_explain(args: argparse.Namespace) -> int:
    import time

    from .io import load_data, load_model
    from .results import ResultWriter, deltas_summary

    _prepare_out(args.out, args.force)  # before any file is read: a refused --out costs nothing
    t_start = time.perf_counter()
    notes_early = []
    if args.old_batch_size is not None:
        if args.batch_size is not None and args.batch_size != args.old_batch_size:
            raise CliError("--batch-size is the old name of --internal-batch-size: give one of them")
        args.batch_size = args.old_batch_size
        notes_early.append("--batch-size is deprecated: it is --internal-batch-size (path points per pass)")
    if args.target == "argmax":
        args.target = "predicted"
        notes_early.append("--target argmax is deprecated: it is --target predicted")
    notes_early.extend(_check_rule(args))
    specs = [*(args.domains or []), *(s for f in args.domain_files or [] for s in f)] or [
        parse_domain("time"),
        parse_domain("fourier"),
    ]
    specs = list(dict.fromkeys(specs))  # the same text twice: once
    doms, domain_notes = _build_domains(specs, args.fs)
    notes_early.extend(domain_notes)
    try:
        with _interrupt_after():  # the framework is imported here
            x = load_data(args.data, npz_key=args.npz_key, channels=args.channels)
            model, framework = load_model(args.model, trusted=args.trust_model)
    except CdigError as e:
        raise CliError(str(e)) from None
    n_total = len(x)
    if args.samples is not None:
        x = x[: args.samples]
    from_file_layout = Path(args.data).suffix.lower() in (".csv", ".ts") and x.ndim == 3
    if framework in ("keras", "tensorflow") and from_file_layout:
        x = np.ascontiguousarray(x.transpose(0, 2, 1))  # (N, C, T) -> Keras' channels last
    try:
        first = _predict(model, framework, x[:1], 1, args.output)
    except CdigError as e:  # the output asked for is not in the model's output
        raise CliError(f"{args.model}: {_squash(e).replace('output=', '--output ')}") from None
    except Exception as e:  # noqa: BLE001 - the model's own error, reported with the data's shape
        raise CliError(
            f"{args.model}: the model refuses data of shape {x.shape} from {args.data} (first sample, shape "
            f"{x[:1].shape}): {_squash(e)}"
        ) from None
    try:
        out = _predict(model, framework, x, args.batch_size or 256, args.output) if len(x) > 1 else first
    except Exception as e:  # noqa: BLE001
        raise CliError(
            f"{args.model}: the model runs one sample but fails on a batch of {min(len(x), args.batch_size or 256)} "
            f"(a torch.export program needs a dynamic batch dimension): {_squash(e)}"
        ) from None
    target, target_note = _choose_target(args.target, out, args.model)

    import cdig

    baselines = x.mean(axis=0, keepdims=True) if args.baseline == "mean" else None
    perturbation = args.method in cdig.perturb.METHODS
    try:
        maps = cdig.explain(  # numpy in: the model's backend converts it
            model,
            x,
            doms,
            target=target,
            baselines=baselines,
            n_steps=args.steps,
            method=args.method,
            rtol=args.rtol,
            max_steps=args.max_steps,
            internal_batch_size=args.batch_size,
            time_axis=args.time_axis,
            fs=args.fs,
            backend={"torch": "torch", "tensorflow": "tensorflow"}.get(framework),
            progress=args.progress and not args.quiet,
            output=args.output,
            **({"n_samples": args.draws, "seed": args.seed} if perturbation else {}),
        )
    except CdigError as e:
        raise CliError(f"{args.model} on {args.data} (shape {x.shape}): {_cli_words(_squash(e))}") from None
    t_explain = time.perf_counter() - t_start
    ranking = _rank(args, model, x, target, framework, maps) if args.rank else None
    auto = args.steps == "auto" and not perturbation
    settings = {
        "domains": [d.name for d in doms],
        "domain_options": {d.name: str(s) for d, s in zip(doms, specs)},
        "n_steps": None if perturbation else args.steps,
        "method": "gausskronrod_adaptive" if auto else args.method,
        "rtol": args.rtol if auto else None,
        "max_steps": args.max_steps if auto else None,
        **({"draws": args.draws, "seed": args.seed} if perturbation and args.method != "occlusion" else {}),
        "baseline": args.baseline,
        "fs": args.fs,
        "time_axis": next(iter(maps.values())).settings.get("time_axis"),
        "internal_batch_size": args.batch_size,
        "samples": args.samples,
        "npz_key": args.npz_key,
        "channels": args.channels,
        "output": args.output,
    }

    writer: ResultWriter | None = None
    try:
        writer = ResultWriter(args.out, overwrite=args.force)
        writer.notes.extend(notes_early)
        writer.save_maps(maps)
        writer.save_netcdf(maps)
        if args.figures:
            from functools import partial

            import matplotlib  # noqa: F401 - missing: exit status 1 with the install hint, not one note per figure

            from .core.rules import PERTURBATION_NAMES
            from .plot import plot_attribution
            from .plot import summary as plot_summary

            label = PERTURBATION_NAMES.get(args.method, "IG")
            draws = {
                name: partial(plot_attribution, att, 0, title=f"{name} {label} of the first explained sample")
                for name, att in maps.items()
            }
            draws["summary"] = partial(plot_summary, maps, 0, title="The first explained sample in every domain")
            writer.save_figures(draws, progress=args.progress and not args.quiet, desc="cdig explain: figures", keep_going=True)
        if ranking is not None:
            _write_ranking(writer, ranking, args, len(x), figures=args.figures)
        summary = writer.write_summary(
            {
                "model": {"file": str(Path(args.model).resolve()), "framework": framework},
                "data": {"file": str(Path(args.data).resolve()), "n_samples": n_total, "explained_shape": list(x.shape)},
                "target": {
                    "rule": target_note,
                    "per_sample": _jsonable_target(target, len(x)),
                    "output_shape": list(out.shape[1:]),
                },
                "deltas": deltas_summary(maps),
                "settings": settings,
                **({"ranking": {"order": ranking.order, "file": RANKING}} if ranking is not None else {}),
                "runtime_s": {"explain": round(t_explain, 3), "total": round(time.perf_counter() - t_start, 3)},
                "notes": writer.notes,
            }
        )
    except CdigError as e:
        raise CliError(f"--out {_squash(e)}{_rescued(maps)}") from None
    except OSError as e:  # a full disk, a folder removed or made read-only meanwhile
        written = f"; cdig's files so far are listed in {Path(args.out) / '.cdig-results.json'}" if writer else ""
        raise CliError(
            f"--out {args.out}: cannot write the results ({_squash(e)}){written}{_rescued(maps)}; "
            "fix that and run again with --force"
        ) from None
    if args.quiet:
        return 0
    print(
        f"cdig explain: {len(x)} sample(s) of {args.data} in {', '.join(maps)}; max relative |delta| "
        + ", ".join(f"{k} {v['max_relative_delta']:.1e}" for k, v in summary["deltas"].items())
        + (
            "; estimated relative map error "
            + ", ".join(
                f"{k} {v['max_relative_map_error']:.1e}" for k, v in summary["deltas"].items() if "max_relative_map_error" in v
            )
            if auto
            else ""
        )
    )
    for note in summary["notes"]:
        print(f"  note: {note}")
    if ranking is not None:
        print(f"  domains ranked best first: {', '.join(ranking.order)} ({RANKING} says how to read each column)")
        print("\n".join(f"  {line}" for line in ranking.to_markdown(legend=False).splitlines()))
    print(f"  wrote {len(summary['files'])} files to {summary['out_dir']}: {', '.join(summary['files'])}")
    return 0


#: The file ``cdig explain --rank`` writes the ranking to.
RANKING = "ranking.md"


def _rank(args: argparse.Namespace, model: Any, x: np.ndarray, target: Any, framework: str, maps: Mapping[str, Any]) -> Any:
    """--rank: :func:`cdig.ranking.rank_domains` on the maps just computed (no second explanation)."""
    from .ranking import rank_domains

    try:
        return rank_domains(
            model,
            x,
            target=target,
            attributions=dict(maps),
            internal_batch_size=args.batch_size,
            time_axis=args.time_axis,
            backend={"torch": "torch", "tensorflow": "tensorflow"}.get(framework),
        )
    except CdigError as e:
        raise CliError(f"--rank: {args.model} on {args.data}: {_cli_words(_squash(e))}{_rescued(maps)}") from None


def _write_ranking(writer: Any, ranking: Any, args: argparse.Namespace, n: int, figures: bool) -> None:
    """``ranking.md`` (the table and how to read each column) and, with figures, ``ranking.png``."""
    head = (
        f"# Domains ranked: {Path(args.model).name} on {Path(args.data).name}\n\n"
        f"{n} sample(s); the domains best first: the maps that beat a random order of their coefficients "
        "(deletion and insertion curves), sparsest first (normalised entropy), then the others "
        "(cdig.ranking.rank_domains).\n\n"
    )
    writer.save_text(RANKING, head + ranking.to_markdown(legend=True) + "\n")
    if figures:
        writer.save_figures({"ranking": ranking.plot}, keep_going=True)


def _rescued(maps: Mapping[str, Any]) -> str:
    """After the work, --out could not take the results: save the maps into a new temporary folder
    instead, so that a finished run is not lost; the words for the error line (empty if that failed too)."""
    import shutil
    import tempfile

    try:
        rescue = Path(tempfile.mkdtemp(prefix="cdig-explain-rescued-"))
    except OSError:
        return ""
    try:
        for name, att in maps.items():
            att.save(rescue / f"{name}.npz")
    except Exception:  # noqa: BLE001 - a second failure: say nothing was kept rather than hide the first
        shutil.rmtree(rescue, ignore_errors=True)
        return ""
    return f"; the maps are saved in {rescue} ({', '.join(f'{n}.npz' for n in maps)}: cdig.Attribution.load reads them)"


def _squash(e: BaseException) -> str:
    from .core.errors import one_line

    return one_line(e)


def _choose_target(choice: int | str, out: Any, model_path: str) -> tuple[Any, str]:
    import numpy as np

    rest = out.shape[1:]
    scalar = len(rest) == 0 or (len(rest) == 1 and rest[0] == 1)
    if isinstance(choice, int):
        if scalar or len(rest) != 1 or choice >= rest[0]:
            raise CliError(f"{model_path}: --target {choice} is out of range for the model's output of shape {tuple(out.shape)}")
        return choice, f"output {choice}"
    if scalar:
        if choice in ("predicted", "argmax"):
            raise CliError(
                f"{model_path}: --target {choice} needs an output with several columns; the model's "
                f"output has shape {tuple(out.shape)} (leave --target at auto for a scalar output)"
            )
        return (None if len(rest) == 0 else 0), "the scalar output"
    if len(rest) == 1:
        return np.argmax(out, axis=1).tolist(), "predicted: the predicted class (argmax) of each sample"
    raise CliError(
        f"{model_path}: the model's output has shape {tuple(out.shape)}; explain it from Python with "
        "cdig.explain(..., target=(index, ...)) (the command line explains scalar or (N, K) outputs)"
    )


def _jsonable_target(target: Any, n: int) -> list[Any]:
    return list(target) if isinstance(target, list) else [target] * n


# --- report ---------------------------------------------------------------------------------------
# --- report ---------------------------------------------------------------------------------------
def _add_report(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="write an HTML report and an interactive explorer of the maps in a folder written by 'cdig demo' or 'cdig explain'",
        description=(
            "Read the maps (*.npz Attributions) of a folder written by 'cdig demo' or 'cdig explain' and write "
            "two self-contained HTML pages that work offline. The report (for print: figures as PNG, no other "
            "files): completeness per domain, maps averaged per predicted class (when the folder says which), "
            "and for the first samples a figure of every domain and each domain's top coefficients. The "
            "explorer (interactive): pan and zoom along each input with its time map, hover for coefficient "
            "values, switch domain, sample, class average and channel."
        ),
        epilog="Both files are checked before any work: a file cdig did not write is never replaced, one it wrote "
        "only with --force. Python: cdig.report.write_report(maps, 'report.html', y=...), "
        "cdig.explorer.write_explorer(maps, 'explorer.html', y=...). Needs matplotlib, and plotly for the "
        "explorer: pip install 'cdig[plot]'.",
    )
    p.add_argument("folder", metavar="DIR", help="the folder written by cdig demo or cdig explain")
    p.add_argument(
        "--out",
        metavar="FILE",
        default=None,
        help="the report's HTML file, which must not exist yet (default: DIR/report.html)",
    )
    p.add_argument(
        "--explorer-out",
        metavar="FILE",
        default=None,
        help="the explorer's HTML file, which must not exist yet (default: explorer.html beside the report)",
    )
    p.add_argument(
        "--no-explorer",
        dest="explorer",
        action="store_false",
        help="write the report only (the explorer inlines plotly's JavaScript, about 5 MB)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace --out and --explorer-out when they are pages cdig wrote (other files are never replaced)",
    )
    p.add_argument(
        "--samples",
        metavar="N",
        type=_int_at_least(1),
        default=8,
        help="samples (the first ones) with their own figures and tables in the report (default: %(default)s)",
    )
    p.add_argument(
        "--explorer-samples",
        metavar="N",
        type=_int_at_least(1),
        default=32,
        help="samples (the first ones) the explorer holds; they set its size (default: %(default)s)",
    )
    p.add_argument(
        "--top-k",
        metavar="K",
        type=_int_at_least(1),
        default=10,
        help="coefficients per table, by largest |attribution| (default: %(default)s)",
    )
    p.add_argument("--title", metavar="T", default=None, help="the page's title (default: 'cdig report: DIR')")
    _add_verbosity(p)
    p.set_defaults(run=_run_report)


def _explorer_missing() -> str | None:
    """Why the explorer cannot be written here (its module or plotly missing), or None."""
    import importlib.util

    try:
        if importlib.util.find_spec("cdig.explorer") is None:
            return "this cdig has no explorer (cdig.explorer)"
        if importlib.util.find_spec("plotly") is None:
            return "plotly is not installed: pip install 'cdig[plot]'"
    except (ImportError, ValueError):
        return "plotly cannot be imported: pip install 'cdig[plot]'"
    return None


def _run_report(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    out = Path(args.out) if args.out else folder / "report.html"
    explorer_out = Path(args.explorer_out) if args.explorer_out else out.parent / "explorer.html"
    explorer = args.explorer
    skipped = None
    if explorer and (missing := _explorer_missing()):
        if args.explorer_out:  # asked for by name: an error, before any work
            raise ImportError(f"--explorer-out {explorer_out}: cannot write the explorer, {missing}")
        explorer, skipped = False, f"explorer not written: {missing} (--no-explorer skips it)"
    if explorer and explorer_out.resolve() == out.resolve():
        raise CliError(f"--explorer-out {explorer_out}: is --out too; give the report and the explorer different files")
    if folder.is_dir():  # otherwise read_folder says what is wrong with DIR
        _check_page_out(out, args.force, "--out")
        if explorer:
            _check_page_out(explorer_out, args.force, "--explorer-out")
    from .report import read_folder, write_report

    try:
        found = read_folder(folder)
        write_report(
            found.maps,
            out,
            x=found.x,
            y=found.y,
            y_label=found.y_label,
            y_true=found.y_true,
            class_names=found.class_names,
            samples=args.samples,
            top_k=args.top_k,
            title=args.title or f"cdig report: {folder.resolve().name}",
            info=found.info,
        )
    except CdigError as e:
        raise CliError(_squash(e)) from None
    except OSError as e:
        raise CliError(f"--out {out}: cannot write the report ({_squash(e)})") from None
    except Exception as e:  # noqa: BLE001 - a hand-edited folder whose values the page cannot show
        raise CliError(f"{folder}: cannot make a report of this folder ({type(e).__name__}: {_squash(e)})") from None
    written = [f"{out} ({out.stat().st_size // 1024} kB)"]
    if explorer:
        from .explorer import write_explorer

        try:
            write_explorer(
                found.maps,
                explorer_out,
                x=found.x,
                y=found.y,
                class_names=found.class_names,
                y_label=found.y_label,
                y_true=found.y_true,
                samples=args.explorer_samples,
                title=(args.title or f"cdig report: {folder.resolve().name}").replace("cdig report", "cdig explorer", 1),
                info=found.info,
                overwrite=explorer_out.exists(),  # checked above: a page cdig wrote, and --force given
            )
        except (CdigError, OSError) as e:
            raise CliError(f"--explorer-out {explorer_out}: cannot write the explorer ({_squash(e)}); {out} is written") from None
        written.append(f"{explorer_out} ({explorer_out.stat().st_size // 1024} kB)")
    if skipped and not args.quiet:
        print(f"cdig report: warning: {skipped}", file=sys.stderr)
    if not args.quiet:
        n = len(next(iter(found.maps.values())).values)
        print(f"cdig report: {n} sample(s) in {', '.join(found.maps)}; wrote {' and '.join(written)}")
    return 0


def _check_page_out(out: Path, force: bool, flag: str) -> None:
    """``cdig report --out`` / ``--explorer-out``: a new file in a writable folder, or with ``force`` a
    page cdig wrote (a report or an explorer: :func:`cdig.report.is_cdig_report` knows both)."""
    import os

    from .report import is_cdig_report

    if out.is_dir():
        raise CliError(
            f"{flag} {out}: is a folder; give a file name, e.g. {out / ('report.html' if flag == '--out' else 'explorer.html')}"
        )
    if out.exists() or out.is_symlink():
        if not is_cdig_report(out):
            raise CliError(f"{flag} {out}: exists and is not a page cdig wrote; not replaced, give another {flag}")
        if not force:
            raise CliError(f"{flag} {out}: exists (a page cdig wrote); give --force to replace it, or another {flag}")
    if not out.parent.is_dir():
        raise CliError(f"{flag} {out}: its folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise CliError(f"{flag} {out}: its folder {out.parent} is not writable")


#: The subcommands, in the order ``cdig --help`` lists them.
COMMANDS: tuple[Callable[[Any], None], ...] = (_add_demo, _add_explain, _add_report)


def build_parser() -> argparse.ArgumentParser:
    """The ``cdig`` argument parser with every subcommand of :data:`COMMANDS`."""
    parser = _Parser(
        prog="cdig",
        description="Cross-Domain Integrated Gradients: explain time-series models in time, frequency, "
        "independent components and more.",
        epilog="Run 'cdig COMMAND --help' for a command's options. Python API: import cdig; cdig.explain(...).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cdig`` command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    ``--help``, ``--version`` and argument errors exit through argparse (``SystemExit`` with 0 or 2;
    an argument error is one line). A problem with the user's files or options (:class:`CliError`, any
    :class:`cdig.CdigError`, an ``OSError`` such as a full disk) is one line, status 2; a missing
    optional dependency is reported in one line with the install hint, status 1; an unexpected error
    is one line, status 1 (``--verbose``: its traceback first); Ctrl-C, wherever it lands, is one line,
    status 130. Warnings are printed as one line each, ``cdig COMMAND: warning: Category: message``,
    each once (none with ``--quiet``); every line is free of terminal escape codes.
    """
    import os
    import warnings

    from .core.errors import CdigWarning, one_line

    console = _Console()
    with warnings.catch_warnings():
        warnings.showwarning = console.showwarning
        warnings.filterwarnings("default", category=CdigWarning)  # printed as lines (below), never raised
        # third-party deprecation notices are for developers, not for the command's user
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(?!cdig\b)")
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module=r"(?!cdig\b)")
        if argv is None:  # run as the ``cdig`` program: TensorFlow's C++ info lines off, before it is imported
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            if args.command is None:
                parser.print_help(sys.stderr)
                return 2
            console.command = f"cdig {args.command}"
            console.quiet, console.verbose = bool(getattr(args, "quiet", False)), bool(getattr(args, "verbose", False))
            return int(args.run(args))
        except CliError as e:
            _error(console, e)
            return 2
        except CdigError as e:
            _error(console, one_line(e))
            return 2
        except ImportError as e:
            _error(console, one_line(e))
            return 1
        except OSError as e:
            _error(console, one_line(e))
            return 2
        except KeyboardInterrupt:
            import signal

            if argv is None:  # run as the ``cdig`` program: a second Ctrl-C ends the process at once, quietly
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # (not when called from Python: its handler stays)
            print(f"{console.command}: interrupted", file=sys.stderr)
            return 130
        except Exception as e:  # noqa: BLE001 - a bug here or in a package: one line, the traceback on request
            if console.verbose:
                import traceback

                traceback.print_exc(file=sys.stderr)
            hint = "" if console.verbose else "; --verbose shows the traceback"
            _error(console, f"unexpected {type(e).__name__}: {one_line(e)} (please report it{hint})")
            return 1


def _error(console: _Console, message: Any) -> None:
    print(f"{console.command}: error: {clean_line(str(message))}", file=sys.stderr)
