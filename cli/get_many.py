"""``capture-status get`` with more ids than one person waits for: the bulk lane.

The ids are looked up through :meth:`~shared.CaptureService.look_up_many` at the bulk lane's
pace (people's lookups go first), with progress on standard error when it is a terminal.
Cards are printed as their answers come; with ``--json`` every view is printed at the end,
in the order given, in the same shape as a few ids get.
"""

from __future__ import annotations

from rich.console import Console

from cli.principal import PRINCIPAL
from cli.progress import progress_display
from cli.queries import Queries
from cli.terminal import status_card
from shared import Caller, CaptureService, LookupView

__all__ = ["INTERACTIVE_MAX", "look_up_many_ids"]

#: the most ids looked up in the interactive lane (as a person waiting now); more go bulk
INTERACTIVE_MAX = 10


async def look_up_many_ids(
    service: CaptureService,
    queries: Queries,
    *,
    account: str,
    fresh: bool,
    as_json: bool,
    out: Console,
    err: Console,
) -> list[LookupView]:
    """Look every query up; print each card as it comes (not with ``as_json``).

    Returns:
        Every view, in the order of ``queries.items``.
    """
    principal = PRINCIPAL
    views: dict[str, LookupView] = {}

    def show(view: LookupView, key: str) -> None:
        views[key] = view
        if not as_json:
            out.print(status_card(view))

    # Arguments holding no RequestId fail at once, before any budget is spent.
    without_id = queries.without_id
    for start in range(0, len(without_id), INTERACTIVE_MAX):
        chunk = without_id[start : start + INTERACTIVE_MAX]
        answered = await service.look_up(
            chunk, account=account, caller=Caller.interactive(principal)
        )
        for query, view in zip(chunk, answered, strict=True):
            show(view, query)
    total = len(queries.ids)
    with progress_display(
        err,
        total=total,
        first_eta_seconds=service.batch_seconds(total, account=account),
        cards_to_stdout=not as_json and out.is_terminal,
    ) as on_progress:
        async for view in service.look_up_many(
            queries.ids,
            caller=Caller.bulk(principal),
            account=account,
            fresh=fresh,
            on_progress=on_progress,
        ):
            show(view, view.query)
    return [views[item] for item in queries.items if item in views]
