"""The fleet file of a long-running service, read into memory of its own.

YAML's parser makes many short-lived objects between the few that last, and the
interpreter cannot give back memory the survivors are scattered over: a fleet
of 10 000 probes kept about 40 MB that way. A copy unpickled after the parser's
objects are gone does not. The domain's `Fleet.from_yaml` parses the same way
without the copy, for tools that run once.
"""

from __future__ import annotations

import gc
import pickle
from pathlib import Path
from typing import Any

from coldchain.fleet import Fleet, parse_yaml


def load(path: Path) -> Fleet:
    """The fleet of the file at `path`; raises FleetConfigError naming the problem and
    OSError when the file cannot be read."""
    return Fleet.from_data(_in_own_memory(path.read_text(encoding="utf-8")))


def _in_own_memory(text: str) -> Any:
    # The parsed data must be gone before the copy is made, so that the copy does not
    # fill the holes between the parser's leftovers.
    blob = pickle.dumps(parse_yaml(text))
    gc.collect()
    return pickle.loads(blob)
