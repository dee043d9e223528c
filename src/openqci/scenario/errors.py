"""The one exception of the scenario model: a scenario file that cannot be read or breaks the format."""

from __future__ import annotations

from openqci.errors import OpenQciError

__all__ = ["ScenarioError"]


class ScenarioError(OpenQciError, ValueError):
    """A scenario file is unreadable, is not YAML, or breaks the scenario format.

    ``problems`` lists every problem found, each as ``entry: field: what is wrong``; the message shows the
    file and the first problem, and says how many more there are.
    """

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(f"{path}: {problems[0]}{more}")
