#!/usr/bin/env python3
"""The README's two commands; needs only Python 3.11+.

    python3 dev.py run    # set up .venv, then `outreach demo`: the embedded stack, the service
                          # and a synthetic city's month of feeds; serves until Ctrl-C
    python3 dev.py test   # set up .venv, run the whole test suite (pytest, mypy, ruff)

Both create ``.venv`` next to this file on first use and reinstall only when pyproject.toml
changes. Extra arguments after ``run`` go to ``outreach demo`` (e.g. ``--seed 3``), after
``test`` to pytest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".outreach-installed"


def sh(*argv: str | Path, env: dict[str, str] | None = None) -> None:
    print("+ " + " ".join(str(a) for a in argv), flush=True)
    code = subprocess.call([str(a) for a in argv], cwd=ROOT, env=env)
    if code != 0:
        sys.exit(code)


def ensure_venv(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (this script may be run by an older python3)
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    sh(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    sh(BIN / "python", "-m", "pip", "install", "--quiet", "-e", f".[{extras}]")
    STAMP.write_text(want)


def run(demo_args: list[str]) -> None:
    """Install, then ``outreach demo``: the embedded stack, every service process in one, a
    synthetic city's month of feeds, and the URLs to open; it keeps serving until Ctrl-C."""
    ensure_venv("stack")
    running = [] if "--exit" in demo_args else ["--keep-running"]
    argv = [str(BIN / "outreach"), "demo", *running, *demo_args]
    print("+ " + " ".join(argv), flush=True)
    child = subprocess.Popen(argv, cwd=ROOT)

    def forward(signum: int, frame: object) -> None:
        # Ctrl-C reaches the child too (same process group); SIGTERM is passed on
        if signum == signal.SIGTERM and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    code = child.wait()
    if code not in (0, 130, -signal.SIGINT):
        sys.exit(code)


# Debian's chromium: the real binary, and the wrapper script that starts it.
CHROMIUM = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")


def ensure_chromium() -> None:
    """The browser test drives Debian's chromium (no browser is ever downloaded): install it
    from Debian's packages when it is missing and this is a Debian-like system run as root."""
    if any(Path(p).exists() for p in CHROMIUM):
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        print(
            "note: Debian's chromium is missing and cannot be installed from here; the browser"
            " test will fail and say how to install it",
            flush=True,
        )
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [apt, "install", "-y", "-q", "--no-install-recommends", "chromium"]
    print("+ " + " ".join(install), flush=True)
    if subprocess.call(install, cwd=ROOT, env=env) != 0:  # package lists may be missing
        sh(apt, "update", "-q", env=env)
        sh(*install, env=env)


def test(pytest_args: list[str]) -> None:
    ensure_venv("stack,dev")
    ensure_chromium()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    sh(BIN / "ruff", "check", ".")
    sh(BIN / "mypy", env=env)
    sh(BIN / "python", "-m", "pytest", *pytest_args, env=env)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test"}:
        sys.exit(__doc__)
    if sys.argv[1] == "run":
        run(sys.argv[2:])
    else:
        test(sys.argv[2:])


if __name__ == "__main__":
    main()
