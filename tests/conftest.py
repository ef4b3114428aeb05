"""Make ``ansible_collections.inferno.runners`` importable for every test.

Collections are imported through their namespace package, so the checkout is exposed as
``tests/output/collections/ansible_collections/inferno/runners`` (a symlink made here).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLLECTIONS = REPO / "tests" / "output" / "collections"


def _expose_collection() -> None:
    link = COLLECTIONS / "ansible_collections" / "inferno" / "runners"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        try:
            link.symlink_to(REPO, target_is_directory=True)
        except FileExistsError:
            pass
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))


_expose_collection()
