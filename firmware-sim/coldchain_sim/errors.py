"""Errors of the simulator. Messages say what was wrong and what to do."""


class SimulatorError(Exception):
    """Base of every error raised by coldchain_sim."""


class ScenarioError(SimulatorError):
    """The scenario file is not valid; the message names the field and the problem."""


class UnknownIdError(ScenarioError, LookupError):
    """A gateway or sensor id that the scenario does not define."""


class SimulationError(SimulatorError):
    """The firmware was driven wrongly: a naive or backwards timestamp, a negative step."""
