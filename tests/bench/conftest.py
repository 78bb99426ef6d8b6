"""The benchmarks are scripts that import each other by name from ``bench/``."""

import sys

from tests.support.paths import ROOT

if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))
