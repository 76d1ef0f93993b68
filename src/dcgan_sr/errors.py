"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """A problem the user can fix: bad input, missing credentials, a wrong path.

    The message names the file or setting at fault and what to do about it.
    """


class TrainingInterrupted(Exception):
    """Ctrl-C during training; the same command resumes from the checkpoint it names."""
