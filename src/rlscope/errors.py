"""User-facing errors: one clear line, naming the file/field/line and what was expected."""


class RlscopeError(Exception):
    """An error caused by the user's input or environment; the CLI prints it as one line."""


class DataError(RlscopeError):
    """Malformed input data (a JSONL line, a missing field, ...)."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line
