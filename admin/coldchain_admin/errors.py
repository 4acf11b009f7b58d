"""Errors of the admin commands: each says what was wrong and what to do."""


class AdminError(Exception):
    """Base of the admin commands' errors."""


class BackupFailed(AdminError):
    """A store could not be backed up; the backup directory is not complete."""


class BackupRefused(AdminError):
    """A backup is incomplete, corrupted or of another format: nothing was restored."""


class TargetNotEmpty(AdminError):
    """A store to restore into already holds data: nothing was restored."""


class RestoreFailed(AdminError):
    """A store refused the restore part-way; the message says which and what is done."""
