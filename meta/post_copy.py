"""Post-copy task: lock the dependencies with uv and start a git repository.

Copier runs this only on `copier copy --trust` (never on update). Both steps are conveniences:
a missing or failing tool is reported with the command to run later, and the copy succeeds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def run(*command: str, purpose: str) -> None:
    shown = " ".join(command)
    exe = shutil.which(command[0])
    if exe is None:
        print(f"post-copy: `{command[0]}` not found, skipped {purpose}; run `{shown}` later.")
        return
    result = subprocess.run([exe, *command[1:]], check=False, capture_output=True, text=True)  # noqa: S603
    if result.returncode != 0:
        print(f"post-copy: `{shown}` failed, skipped {purpose}; run it later:")
        print(result.stderr.strip())
        return
    print(f"post-copy: {purpose} done.")


def main() -> int:
    # The new project must not inherit the virtual environment Copier itself may run in.
    os.environ.pop("VIRTUAL_ENV", None)
    run("uv", "lock", purpose="locking dependencies (uv.lock)")
    if not Path(".git").is_dir():
        run("git", "init", "--quiet", purpose="creating a git repository")
    return 0


if __name__ == "__main__":
    sys.exit(main())
