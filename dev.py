#!/usr/bin/env python3
"""The README's two commands; needs only Python 3.11+.

    python3 dev.py run    # set up .venv, start the embedded stack, run the service
    python3 dev.py test   # set up .venv, run the whole test suite (pytest, mypy, ruff)

Both create ``.venv`` next to this file on first use and reinstall only when pyproject.toml
changes. Extra arguments after ``test`` go to pytest.
"""

from __future__ import annotations

import hashlib
import os
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


def run() -> None:
    ensure_venv("stack")
    outreach = BIN / "outreach"
    sh(outreach, "stack", "up")
    sh(outreach, "migrate")
    print(
        "\nThe embedded stack is up (state in OUTREACH_STATE_DIR). "
        f"Stop it with: {outreach.relative_to(ROOT)} stack down"
    )


def test(pytest_args: list[str]) -> None:
    ensure_venv("stack,dev")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    sh(BIN / "ruff", "check", ".")
    sh(BIN / "mypy", env=env)
    sh(BIN / "python", "-m", "pytest", *pytest_args, env=env)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test"}:
        sys.exit(__doc__)
    if sys.argv[1] == "run":
        run()
    else:
        test(sys.argv[2:])


if __name__ == "__main__":
    main()
