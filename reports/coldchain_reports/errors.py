"""Errors of the reports tool. Each message says what was wrong and what to do.

A signed document that does not verify raises the domain's
`coldchain.signatures.NotVerified`, here as where the signature is checked.
"""


class ReportError(Exception):
    """Base of the reports tool's errors."""


class InfluxUnavailable(ReportError):
    """InfluxDB could not be reached or failed; try again once it answers."""


class InfluxRejected(ReportError):
    """InfluxDB refused the query (HTTP 4xx or an error in the result)."""


class IncompleteRecord(ReportError):
    """A record in InfluxDB lacks a field the report needs; its writer must be fixed."""


class UnknownInFleet(ReportError):
    """An asset or sensor named on the command line is not in the fleet file."""


class InvalidInput(ReportError):
    """A command-line value or an input file (calibration list, certificate) is not valid."""


class EditedCertificate(InvalidInput):
    """A certificate's fields disagree with its own seal: someone changed the file."""
