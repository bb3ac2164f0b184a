"""Exceptions raised while reading knowledge files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FormatProblem:
    """One problem in one knowledge file, precise enough for an editor to fix it."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path} line {self.line}: {self.message}"


class FaqFormatError(ValueError):
    """One or more FAQ or ticket files break the documented format."""

    def __init__(self, problems: list[FormatProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
