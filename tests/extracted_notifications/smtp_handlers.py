"""An aiosmtpd handler for the SMTP server process (``-c tests.extracted_notifications.smtp_handlers.Picky``).

A Maildir like ``aiosmtpd.handlers.Mailbox``, but the recipient's local part scripts the
server: ``refuse5…`` is refused for good (550), ``refuse4…`` for now (451), and for
``slow…`` the message is stored and the final reply to DATA comes only after 5 s, so a
client with a shorter timeout cannot know it was accepted.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiosmtpd.handlers import Mailbox


class Picky(Mailbox):
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("refuse5"):
            return "550 no such mailbox"
        if address.startswith("refuse4"):
            return "451 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if any(to.startswith("slow") for to in envelope.rcpt_tos):
            await asyncio.sleep(5)
        return str(reply)
