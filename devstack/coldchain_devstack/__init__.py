"""coldchain's local stack: the servers and our services on this machine, on free ports.

One code path for `make demo` (`coldchain-demo`), the test fixtures and the
benchmarks: the same Mosquitto and InfluxDB configuration (`localstack`), the same
processes (`servers`), the same settings of our services (`stack`). Our services
run as processes by their console commands, as deployed; this package imports none
of them. It is installed editable from the checkout (requirements-dev.txt) and is no
part of the images.
"""

from pathlib import Path

#: The checkout this package is installed from: its .venv, deploy/, fleet and
#: scenario files are what the processes run with.
REPO = Path(__file__).resolve().parents[2]
#: The checkout's virtual environment, with our services' console commands.
BIN = REPO / ".venv" / "bin"
