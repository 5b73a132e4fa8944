"""What the abuse pages share: the site's name and link base for the mail a change sends, and
what follows a commit (the project's pages re-rendered, the mail delivered)."""

from __future__ import annotations

from fastapi import Request

from stockade.abuse.quarantine import Mailing
from stockade.lifecycle.changes import announce
from stockade.mail import Message, deliver
from stockade.web.context import AppContext

__all__ = ["after_commit", "mailing_for"]


def mailing_for(request: Request, ctx: AppContext) -> Mailing:
    """The site's name and the base of the links in the mail a report or an action sends."""
    return Mailing(site_name=ctx.settings.site_name, base_url=ctx.link_base(request))


def after_commit(ctx: AppContext, normalized: str, messages: list[Message]) -> None:
    """After the commit: this worker drops its cached pages of the project, the mail goes."""
    announce(ctx.pages, normalized)
    deliver(ctx.mailer, *messages)
