"""Regenerate the real-data gallery of ``docs/examples.md``: each example's figures as a user sees them.

Runs every script in ``examples/`` as a user does (``python examples/NAME.py OUT``, full runs), then
``cdig demo --real`` and ``cdig report`` on its folder, and copies every figure they write into
``docs/img/gallery/<example>/``. The static report and the explorer are photographed in headless
Chromium (Debian's ``chromium``) as ``docs/img/gallery/demo_real/report.png`` and ``explorer.png``.
About ten minutes on 2 CPU cores. Run from the repository root:

    python docs/make_gallery.py            # everything
    python docs/make_gallery.py acsf1_fourier demo_real   # some of it
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "docs" / "img" / "gallery"
#: Every example script, found (not listed by hand), and the real-data demo of the command line.
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))
ALL = [*EXAMPLES, "demo_real"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def run(cmd: list[str], cwd: Path) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)


def screenshot(page: Path, png: Path, height: int) -> None:
    """A full-width screenshot of ``page`` after its scripts ran (headless Chromium)."""
    if CHROMIUM is None:
        print(f"no chromium: {png.name} not taken (apt-get install chromium)")
        return
    run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--hide-scrollbars",
            "--virtual-time-budget=8000",
            f"--window-size=1300,{height}",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        ROOT,
    )


def make(name: str, work: Path) -> list[Path]:
    """Run one example (or the demo) into ``work`` and copy its figures to the gallery."""
    out = work / name
    cdig = [sys.executable, "-m", "cdig"]
    if name == "demo_real":
        run([*cdig, "demo", "--real", "--out", str(out), "--no-progress"], ROOT)
        run([*cdig, "report", str(out)], ROOT)
    else:
        run([sys.executable, str(ROOT / "examples" / f"{name}.py"), str(out)], ROOT)
    target = GALLERY / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    copied = [Path(shutil.copy2(p, target / p.name)) for p in sorted(out.glob("*.png"))]
    if name == "demo_real":
        screenshot(out / "report.html", target / "report.png", 2400)
        screenshot(out / "explorer.html", target / "explorer.png", 1200)
        copied += [p for p in (target / "report.png", target / "explorer.png") if p.exists()]
    return copied


def main(argv: list[str]) -> None:
    names = argv or ALL
    unknown = [n for n in names if n not in ALL]
    if unknown:
        raise SystemExit(f"unknown example(s) {unknown}; known: {', '.join(ALL)}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for path in make(name, Path(tmp)):
                print("wrote", path.relative_to(ROOT))


if __name__ == "__main__":
    main(sys.argv[1:])
