"""`make demo`: the Dortmund hub on this machine, its data under ./var.

The Makefile runs `coldchain-demo configure` and `coldchain-demo banner`, then honcho
runs the Procfile: the servers, and `coldchain-demo` for everything else. The ports
come from the environment the Makefile exports (MQTT_PORT, INFLUX_PORT,
ALERTS_PORT, METRICS_PORT, MAIL_PORT); a service runs with the settings of
`coldchain_devstack.stack`, as in the tests, in place of this process.

    coldchain-demo configure | banner | service ingest|alerts | gateway ID | mail | summary
    coldchain-demo examples DIR     (`make examples`: docs/examples made again)
    coldchain-demo cluster          (`make cluster-demo`: the same hub on the cluster,
                                     coldchain_devstack.clusterdemo)

The demo's people and its summary line use the alerts service's own code (its accounts,
its texts), imported only by the commands that need it: it takes a second to load, and
six gateways start at once. Nothing else here imports a deployable.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from coldchain_devstack import BIN, examples, localstack, mailcatcher
from coldchain_devstack.stack import (
    DEMO_FLEET,
    alerts_settings,
    demo_gateway_settings,
    ingest_settings,
)

#: The demo's data, relative to the checkout the Makefile runs in (`make clean-demo`).
VAR = Path("var")
ALERTS_DATABASE_URL = f"sqlite:///{VAR}/alerts/alerts.sqlite3"
#: A short first wait before an alert's first message, and mail to the catcher.
ALERTS_DEMO_SETTINGS = {
    "COLDCHAIN_ALERTS_ESCALATION_WINDOW_S": "10",
    "COLDCHAIN_ALERTS_SMTP_HOST": "127.0.0.1",
    "COLDCHAIN_ALERTS_SMTP_SECURITY": "none",
    "COLDCHAIN_ALERTS_SMTP_FROM": "coldchain-demo@hub.example",
}


@dataclass(frozen=True)
class Ports:
    mqtt: int
    influx: int
    alerts: int
    metrics: int
    mail: int

    @classmethod
    def from_environment(cls) -> Ports:
        def port(name: str, default: int) -> int:
            return int(os.environ.get(name, default))

        return cls(
            port("MQTT_PORT", 1883),
            port("INFLUX_PORT", 8086),
            port("ALERTS_PORT", 8000),
            port("METRICS_PORT", 9108),
            port("MAIL_PORT", 1025),
        )

    @property
    def influx_url(self) -> str:
        return f"http://127.0.0.1:{self.influx}"


def configure(ports: Ports) -> None:
    """Write the servers' configuration under ./var, as the tests write theirs."""
    directory = VAR.resolve()
    localstack.mosquitto_conf(directory, ports.mqtt)
    localstack.influxdb_conf(directory, ports.influx, ports.influx + 2)


def banner(ports: Ports) -> str:
    return f"""
coldchain demo: the Dortmund hub (2 cold rooms, 1 freezer, 3 vans), a reading every 5 s.
Van 2's chilled compressor fails after one minute; its alert appears within two, and
the shift lead is e-mailed. Nobody acknowledges? After 2 more minutes the hygiene
officer on call is e-mailed too, and both are reminded every minute.

  alerts        http://127.0.0.1:{ports.alerts}/alerts   log in as hygiene / kuehlkette-demo
                (auditor: pruefer, admin: admin; same password). API docs: /docs
  e-mail        var/mail/*.eml, caught on 127.0.0.1:{ports.mail}; each shows as a "mail to" line
  MQTT          mosquitto_sub -p {ports.mqtt} -t 'coldchain/#' -v
  InfluxDB      influx -port {ports.influx} -database coldchain \\
                  -execute 'SELECT last(temp_c) FROM temperature GROUP BY sensor'
  ingest        http://127.0.0.1:{ports.metrics}/metrics
  data          ./var  (make clean-demo starts afresh)

A summary line follows every 5 s. Ctrl-C stops everything.
"""


def ingest_environment(ports: Ports) -> dict[str, str]:
    return ingest_settings(ports.mqtt, ports.influx_url, ports.metrics, DEMO_FLEET)


def alerts_environment(ports: Ports) -> dict[str, str]:
    """The alerts service's settings, without the session key `service` reads from ./var."""
    settings = alerts_settings(
        ports.mqtt, ports.alerts, ALERTS_DATABASE_URL, ports.influx_url, DEMO_FLEET
    )
    return settings | ALERTS_DEMO_SETTINGS | {"COLDCHAIN_ALERTS_SMTP_PORT": str(ports.mail)}


def gateway_environment(ports: Ports, gateway_id: str) -> dict[str, str]:
    outbox = VAR / "gateways" / f"{gateway_id}.sqlite3"
    return demo_gateway_settings(gateway_id, ports.mqtt, outbox)


def run_service(name: str, ports: Ports) -> None:
    """Become the service `name`, with the demo's settings on top of this environment."""
    if name == "ingest":
        settings = ingest_environment(ports)
    else:
        settings = alerts_environment(ports)
        # People, contacts, the policy and the fleet registry once; a session key kept
        # in ./var, so logins survive a restart of the demo.
        from coldchain_devstack import demo_alerts

        folder = VAR / "alerts"
        demo_alerts.set_up(settings["COLDCHAIN_ALERTS_DATABASE_URL"], folder, DEMO_FLEET)
        settings["COLDCHAIN_ALERTS_SECRET_KEY"] = (folder / "secret-key").read_text()
    _become(f"coldchain-{name}", settings)


def _become(command: str, settings: dict[str, str]) -> None:
    program = str(BIN / command)
    os.execve(program, [program], os.environ | settings)


def make_examples(out: Path) -> int:
    """Run the examples' pipeline (coldchain_devstack.examples) and say what it wrote."""
    started = time.monotonic()
    try:
        made = examples.make(out)
    except examples.ExampleError as error:
        print(f"examples not made: {error}", file=sys.stderr)
        return 1
    for path in made.all():
        print(f"{path} ({path.stat().st_size // 1024} KiB)")
    print(f"made in {time.monotonic() - started:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="make demo's parts (see the Procfile).")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("configure", help="write the servers' configuration under ./var")
    commands.add_parser("banner", help="print where to look while the demo runs")
    service = commands.add_parser("service", help="run ingest or the alerts service")
    service.add_argument("name", choices=["ingest", "alerts"])
    gateway = commands.add_parser("gateway", help="run a simulated gateway of the hub")
    gateway.add_argument("gateway_id")
    commands.add_parser("mail", help="catch the alerts service's mail in ./var/mail")
    commands.add_parser("summary", help="print a summary line every 5 s")
    commands.add_parser("cluster", help="run the hub on a NATS cluster (make cluster-demo)")
    remake = commands.add_parser(
        "examples", help="make the example report and certificate again (docs/compliance.md)"
    )
    remake.add_argument("out", type=Path, help="the folder to write them into")
    args = parser.parse_args(argv)

    ports = Ports.from_environment()
    if args.command == "configure":
        configure(ports)
    elif args.command == "banner":
        print(banner(ports))
    elif args.command == "service":
        run_service(args.name, ports)
    elif args.command == "gateway":
        _become("coldchain-gateway", gateway_environment(ports, args.gateway_id))
    elif args.command == "mail":
        mailcatcher.catch(VAR / "mail", ports.mail)
    elif args.command == "examples":
        return make_examples(args.out)
    elif args.command == "cluster":
        from coldchain_devstack import clusterdemo

        return clusterdemo.run(ports)
    else:
        from coldchain_devstack import demo_summary

        demo_summary.run()
    return 0
