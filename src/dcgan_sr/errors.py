"""The exceptions the CLI turns into one line (UserError: exit code 2; TrainingInterrupted:
exit code 130; WorkerLost: exit code 1), and the first line of any error, for such messages."""


class UserError(Exception):
    """A problem the user can fix: bad input, missing credentials, a wrong path.

    The message names the file or setting at fault and what to do about it.
    """


class TrainingInterrupted(Exception):
    """Ctrl-C during training; the same command resumes from the checkpoint it names."""


class WorkerLost(Exception):
    """A multi-worker run stopped because another worker did; all restarted resume it."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message, or its type's name when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
