"""The exceptions the CLI turns into one line (UserError: exit code 2; TrainingInterrupted:
128 + the signal, 130 for Ctrl-C and 143 for SIGTERM; WorkerLost: exit code 1), and the
first line of any error, for such messages."""


class UserError(Exception):
    """A problem the user can fix: bad input, missing credentials, a wrong path.

    The message names the file or setting at fault and what to do about it.
    """


class TrainingInterrupted(Exception):
    """Ctrl-C or SIGTERM during training; the same command resumes from the checkpoint it
    names. `exit_code` is the shell's for the signal."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


class WorkerLost(Exception):
    """A multi-worker run stopped because another worker did; all restarted resume it."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message, or its type's name when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
