#!/usr/bin/env python3
"""The README's two commands; needs only Python 3.11+.

    python3 dev.py run    # set up .venv, start the embedded stack, run the service processes
    python3 dev.py test   # set up .venv, run the whole test suite (pytest, mypy, ruff)

Both create ``.venv`` next to this file on first use and reinstall only when pyproject.toml
changes. Extra arguments after ``test`` go to pytest.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
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


# The service's processes on one machine (each is stateless; run more of any to scale out).
SERVICES = (["worker"], ["ingest"], ["relay"], ["projections", "run"])


def run() -> None:
    ensure_venv("stack")
    outreach = BIN / "outreach"
    sh(outreach, "stack", "up")
    sh(outreach, "migrate")
    procs = [subprocess.Popen([str(outreach), *args], cwd=ROOT) for args in SERVICES]
    print(
        "\noutreach is running on the embedded stack: "
        + ", ".join(" ".join(a) for a in SERVICES)
        + ". Ctrl-C stops them; the stack keeps running until "
        + f"`{outreach.relative_to(ROOT)} stack down`.",
        flush=True,
    )

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    failed = [
        " ".join(a) for a, p in zip(SERVICES, procs, strict=True) if p.returncode not in (0, -2)
    ]
    if failed:
        sys.exit(f"stopped with an error: {', '.join(failed)}")


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
