"""coldchain reports: compliance reports per asset and period, and delivery certificates.

A newcomer's path: `cli` (the `coldchain-report` commands) -> `scope` (which
sensor of which asset, and its limits) -> `readings` (the InfluxDB read
adapter) -> `report` / `certificate` (every number from `coldchain.compliance`)
-> `seal` (the digest that `verify` checks) -> `pdf` with `plot` and `labels`
(German and English). `calibration` reads recorder checks; `settings` is the
one settings object (COLDCHAIN_REPORT_*); `errors` the errors users can act on.
"""
