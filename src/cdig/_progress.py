"""cdig's one progress bar: tqdm when installed, else a plain counter on stderr.

Every progress report of the package goes through :class:`Progress`: the path points of an
explanation (:mod:`cdig.engine`), the epochs of a training loop (:mod:`cdig.training`) and the
figures of a result folder (:mod:`cdig.results`).
"""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """Counts units of work (path points by default) as they are done.

    Parameters
    ----------
    enabled : bool
        False: every call does nothing.
    total : int or None
        Units expected, when known.
    desc : str
        The bar's label.
    unit : str
        What is counted: ``"pt"`` (path points), ``"epoch"``, ``"fig"``, ...
    """

    def __init__(self, enabled: bool, total: int | None, desc: str, unit: str = "pt") -> None:
        self.bar: Any = None
        self.enabled = enabled
        self.done = 0
        self.total = total
        self.desc = desc
        self.unit = unit
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            self.bar = tqdm(total=total, desc=desc, unit=unit, leave=False)

    def __call__(self, rows: int, **stats: float) -> None:
        """``rows`` more units done; ``stats`` (e.g. ``loss=0.3``) are shown beside the count."""
        if not self.enabled:
            return
        self.done += rows
        if self.bar is not None:
            if stats:
                self.bar.set_postfix(stats, refresh=False)
            self.bar.update(rows)
        else:
            total = f"/{self.total}" if self.total else ""
            what = "path points" if self.unit == "pt" else f"{self.unit}s"
            extra = "".join(f" {k} {v:.3g}" for k, v in stats.items())
            print(f"\r{self.desc}: {self.done}{total} {what}{extra}", end="", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            print(file=sys.stderr)
