"""Writing a file all at once: readers see the old file or the new one, never half of the new one."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a hidden sibling (``.NAME.cdig-tmp``), flushed to the disk and
    renamed over ``path``. A failure (a full disk, a kill) leaves ``path`` as it was and no temporary
    file behind.

    Examples
    --------
    >>> import tempfile
    >>> p = write_atomic(Path(tempfile.mkdtemp()) / "a.json", '{"x": 1}')
    >>> p.read_text(), sorted(q.name for q in p.parent.iterdir())
    ('{"x": 1}', ['a.json'])
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.cdig-tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
