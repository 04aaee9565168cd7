"""Readable cards for a terminal: status by symbol, word and colour, then what to do.

Upstream text is inserted as :class:`rich.text.Text`, never as markup, so nothing that
LeadSquared sends can restyle the output, and every string passes
:func:`~shared.explain.untrusted.inert`
first, so none can move the cursor, change colours, retitle the window or reorder what is
read (rich itself removes only a few control codes). Colour is never the only carrier of
meaning: every card starts with the status symbol and word.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from shared import Explanation, LookupView, QueueMetrics, Severity, inert

__all__ = ["metrics_card", "status_card"]

_STYLE = {
    Severity.OK: "green",
    Severity.INFO: "cyan",
    Severity.WARNING: "yellow",
    Severity.ERROR: "red",
}


def _text(text: str, style: str = "") -> Text:
    """Untrusted text for a card: inert, never markup."""
    return Text(inert(text), style=style)


def _line(text: str) -> str:
    """Untrusted text for one line (a title): inert, line breaks as spaces."""
    return inert(text, line_breaks=False)


def _status_word(view: LookupView) -> str:
    explanation = view.explanation
    if explanation.status_raw:
        return explanation.status_raw
    if view.error is not None:
        return view.error.code.replace("_", " ")
    return "unknown"


def status_card(view: LookupView) -> RenderableType:
    """A panel for one looked-up id."""
    e: Explanation = view.explanation
    style = _STYLE.get(e.severity, "white")
    title = Text.assemble(
        (_line(f"{e.symbol} {_status_word(view)}"), f"bold {style}"),
        ("  ·  ", "dim"),
        (_line(view.request_id or view.query), "bold"),
    )
    if view.account is not None:
        title.append_text(Text.assemble(("  ·  account ", "dim"), (_line(view.account), "bold")))
    parts: list[RenderableType] = [_text(e.headline, style="bold")]
    if e.what_happened:
        parts.append(_text(e.what_happened))
    if e.why:
        parts.append(Text.assemble(("Why: ", "bold"), inert(e.why)))
    if e.facts:
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style="dim", no_wrap=True)
        facts.add_column()
        for fact in e.facts:
            facts.add_row(_text(fact.label), _text(fact.value))
        parts.append(facts)
    if e.next_steps:
        steps = Text("Next steps\n", style="bold")
        for number, step in enumerate(e.next_steps, 1):
            steps.append(f"  {number}. ")
            steps.append(inert(step))
            steps.append("\n")
        steps.rstrip()
        parts.append(steps)
    summary = e.request_summary
    if summary is not None:
        parts.append(Text.assemble(("Submitted request: ", "bold"), summary_line(e)))
    parts.extend(
        Text.assemble((f"{_line(link.label)}: ", "bold"), (_line(link.url), "underline"))
        for link in e.links
    )
    return Panel(Group(*parts), title=title, title_align="left", border_style=style)


def summary_line(explanation: Explanation) -> str:
    """The redacted request summary on one line (inert)."""
    summary = explanation.request_summary
    if summary is None:
        return ""
    return _line(summary.one_line())


def metrics_card(
    metrics: QueueMetrics, reading: str, *, account: str | None = None
) -> RenderableType:
    """A panel with the queue figures and what they mean (of ``account``, when named)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column()

    def show(value: float | int | None, unit: str = "") -> Text:
        return Text("unknown" if value is None else f"{value:g}{unit}")

    table.add_row("Pending requests", show(metrics.pending_messages))
    table.add_row("Worst-case delay", show(metrics.max_delay_seconds, " s"))
    table.add_row("Processing rate", show(metrics.processing_rate_per_minute, " per minute"))
    return Panel(
        Group(_text(reading, style="bold"), table),
        title=Text(
            "Capture Opportunities queue"
            + (f" · account {_line(account)}" if account is not None else ""),
            style="bold",
        ),
        title_align="left",
    )
