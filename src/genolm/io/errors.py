"""One error type for bad user input: the CLI prints it as one line and exits with code 2."""

from __future__ import annotations

import os


class InputError(Exception):
    """Bad input a user can fix: names the file, the line (1-based) when known, and the problem."""

    def __init__(self, message: str, path: str | os.PathLike | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(self.format())

    def format(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path + (f":{self.line}" if self.line is not None else "") + ": "
        return f"{where}{self.message}"


class UsageError(InputError):
    """A bad option value (unknown --arch, bad budget string...)."""
