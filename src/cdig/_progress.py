"""A progress bar for long explanations: tqdm when installed, else a plain counter on stderr."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """Counts rows (path points) as they are evaluated."""

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

    def __call__(self, rows: int) -> None:
        if not self.enabled:
            return
        self.done += rows
        if self.bar is not None:
            self.bar.update(rows)
        else:
            total = f"/{self.total}" if self.total else ""
            what = "path points" if self.unit == "pt" else f"{self.unit}s"
            print(f"\r{self.desc}: {self.done}{total} {what}", end="", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            print(file=sys.stderr)
