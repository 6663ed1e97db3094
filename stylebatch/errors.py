"""Errors users can act on. The CLI prints their message (no traceback) and exits with `exit_code`."""


class StylebatchError(Exception):
    """Base of every error stylebatch reports to users as a plain message."""

    exit_code = 1


class ConfigError(StylebatchError):
    """A bad pipeline, setting or option: a usage error."""

    exit_code = 2


class WeightsError(StylebatchError):
    """VGG-19 weights missing, unreadable or of the wrong shape."""

    exit_code = 2


class InputError(StylebatchError):
    """An input file (image, manifest, video) that cannot be used; names the file and the cause."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
