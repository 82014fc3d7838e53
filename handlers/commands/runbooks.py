"""runbook (search, add, edit, show), runbooks."""

from __future__ import annotations

from core import runbooks
from core.text import escape, truncate
from core.verbs import runbooks as verbs
from handlers import blocks, runbook_blocks
from handlers.context import CommandContext, Registry
from handlers.forms import FormRegistry
from handlers.runbook_modals import open_runbook_form

MAX_HITS = 10
MAX_LISTED = 40


async def open_form(ctx: CommandContext, command: verbs.OpenRunbookForm) -> blocks.Rendered:
    """Reached only by a request without a trigger (the form itself opens from ``FORMS``)."""
    what = f"edit {runbooks.reference(command.runbook_id)}" if command.runbook_id else "add"
    return blocks.reply(f"The runbook form opens in Slack: type `/release runbook {what}` there.")


async def show(ctx: CommandContext, command: verbs.ShowRunbook) -> blocks.Rendered:
    runbook = await runbooks.get_runbook(ctx.uow, actor=ctx.actor, runbook_id=command.runbook_id)
    return runbook_blocks.runbook_message(runbook)


async def search(ctx: CommandContext, command: verbs.SearchRunbooks) -> blocks.Rendered:
    hits = await runbooks.search_runbooks(ctx.uow, actor=ctx.actor, query=command.query, limit=MAX_HITS + 1)
    shown = f"`{escape(truncate(command.query, 100))}`"
    if not hits:
        return blocks.reply(
            f"No runbook matches {shown}: each word must appear in it. Try fewer words, or `/release runbooks`."
        )
    title = f"*Runbooks matching* {shown}"
    found: list[blocks.Block] = [blocks.section(title)]
    found.extend(runbook_blocks.hit_section(hit) for hit in hits[:MAX_HITS])
    if len(hits) > MAX_HITS:
        found.append(blocks.context(f"More than {MAX_HITS} match: add a word to narrow it down."))
    text = "\n".join([title, *(f"{hit.runbook.reference} {escape(hit.runbook.title)}" for hit in hits[:MAX_HITS])])
    return text, found


async def list_all(ctx: CommandContext, command: verbs.ListRunbooks) -> blocks.Rendered:
    listed = await runbooks.list_runbooks(ctx.uow, actor=ctx.actor, service=command.service, limit=MAX_LISTED + 1)
    of = f" of *{escape(command.service)}*" if command.service else ""
    if not listed:
        return blocks.reply(f"No runbooks{of} yet. Developers and admins add one with `/release runbook add`.")
    title = f"*Runbooks{of}*, most recently changed first"
    found: list[blocks.Block] = [blocks.section(title)]
    found.extend(runbook_blocks.listed_section(runbook) for runbook in listed[:MAX_LISTED])
    if len(listed) > MAX_LISTED:
        found.append(blocks.context("More exist: search them with `/release runbook <words>`."))
    text = "\n".join([title, *(f"{runbook.reference} {escape(runbook.title)}" for runbook in listed[:MAX_LISTED])])
    return text, found


HANDLERS: Registry = {
    verbs.OpenRunbookForm: open_form,
    verbs.ShowRunbook: show,
    verbs.SearchRunbooks: search,
    verbs.ListRunbooks: list_all,
}

# Commands answered with a form, opened by the listener with the command's trigger (see handlers.forms).
FORMS: FormRegistry = {verbs.OpenRunbookForm: open_runbook_form}
