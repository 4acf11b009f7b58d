"""The unit layer's Hypothesis settings: no deadline per example.

Hypothesis fails an example that takes longer than 200 ms by default, a timed
assertion: speed is measured by the benchmarks (bench/), and `make test` runs this
layer beside the linters on two cores, where an example may wait for a core.
"""

from hypothesis import settings

settings.register_profile("coldchain-unit", deadline=None)
settings.load_profile("coldchain-unit")
