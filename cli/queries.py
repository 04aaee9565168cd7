"""What ``capture-status get`` was asked: its arguments, and standard input for ``-``.

Each argument is a RequestId or text holding some (a URL, a log line). ``-`` stands for
standard input: every RequestId in it is looked up. Each id is looked up once, in the order
it was first given; an argument holding no RequestId stays as it is, so that its card says
why it is not one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared import BatchInput, read_batch

__all__ = ["STDIN", "Queries", "gather_queries"]

#: the argument that stands for standard input
STDIN = "-"


@dataclass(frozen=True, slots=True)
class Queries:
    """The queries of one ``get``, in order, each once.

    Attributes:
        items: RequestIds and the arguments holding none, in the order given.
        ids: the RequestIds among ``items``.
        stdin: what was read from standard input, when ``-`` was given.
    """

    items: list[str]
    ids: list[str]
    stdin: BatchInput | None = None

    @property
    def without_id(self) -> list[str]:
        """The arguments holding no RequestId (their cards say why)."""
        ids = set(self.ids)
        return [item for item in self.items if item not in ids]


def gather_queries(arguments: Sequence[str], read_stdin: Callable[[], bytes]) -> Queries:
    """Every RequestId in ``arguments`` (standard input for ``-``, read once), each once."""
    items: dict[str, None] = {}
    ids: dict[str, None] = {}
    stdin: BatchInput | None = None
    for argument in arguments:
        if argument == STDIN:
            if stdin is None:
                stdin = read_batch(read_stdin())
                found = stdin.ids
            else:
                found = []
        else:
            found = read_batch(argument).ids
            if not found:
                items.setdefault(argument, None)
        for rid in found:
            items.setdefault(rid, None)
            ids.setdefault(rid, None)
    return Queries(items=list(items), ids=list(ids), stdin=stdin)
