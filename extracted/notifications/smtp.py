"""E-mail over SMTP, with each failure classed by whether the message could have gone out.

The SMTP conversation is driven step by step (not ``sendmail``) so the adapter knows where
it failed. Before the final ``.`` of DATA is written, nothing can have been delivered: a
refusal, a hang (timeout) or a 4xx is ``retry``; a 5xx is permanent. After it, a lost or
timed-out final reply means the server may have queued the message: that is ``uncertain``,
and the dispatcher does not send it again. So the boundary is at most once for that one
ambiguous window and retried everywhere else; every message carries a ``Message-ID``
stable across attempts, so a receiver that dedupes on it sees one even if a retry follows
an unnoticed delivery.
"""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

from extracted.notifications.channels import Channel, Message
from extracted.notifications.errors import DeliveryFailed

_LEADING_DOT = re.compile(rb"(?m)^\.")
_POLICY = SMTP_POLICY.clone(max_line_length=998)  # RFC 5322's limit: no folding of the long Message-ID


def _refused(step: str, code: int, reply: bytes | str) -> DeliveryFailed:
    said = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    text = f"{step} refused: {code} {said}"
    return DeliveryFailed(text, retry=400 <= code < 500)


class SmtpChannel(Channel):
    name = "email"

    def __init__(self, host: str, port: int, sender: str, *, timeout: float = 10.0,
                 starttls: bool = False, username: str = "", password: str = "") -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self.starttls, self.username, self.password = starttls, username, password

    def render(self, message: Message) -> bytes:
        mail = EmailMessage(policy=_POLICY)
        mail["From"] = self.sender
        mail["To"] = message.recipient
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<{message.message_id}@notifications.paystream>"
        mail.set_content(message.body)
        return mail.as_bytes()

    def send(self, message: Message) -> None:
        payload = self.render(message)
        try:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"connecting to {self.host}:{self.port}: {exc}", retry=True) from exc
        try:
            self._converse(client, message.recipient, payload)
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()

    def _converse(self, client: smtplib.SMTP, recipient: str, payload: bytes) -> None:
        try:
            client.ehlo_or_helo_if_needed()
            if self.starttls:
                client.starttls()
                client.ehlo()
            if self.username:
                client.login(self.username, self.password)
            for step, (code, reply), ok in (
                ("MAIL FROM", client.mail(self.sender), (250,)),
                ("RCPT TO", client.rcpt(recipient), (250, 251)),
                ("DATA", client.docmd("DATA"), (354,)),
            ):
                if code not in ok:
                    raise _refused(step, code, reply)
            body = _LEADING_DOT.sub(b"..", payload)
            client.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        except DeliveryFailed:
            raise
        except smtplib.SMTPResponseException as exc:
            raise _refused("SMTP", exc.smtp_code, exc.smtp_error) from exc
        except (OSError, smtplib.SMTPException) as exc:  # no final dot went out: nothing delivered
            raise DeliveryFailed(f"SMTP conversation failed before the message was sent: {exc}",
                                 retry=True) from exc
        try:
            code, reply = client.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"no reply after the message was sent ({exc}); it may have been "
                                 "delivered, so it is not sent again", retry=False, uncertain=True) from exc
        if code != 250:
            raise _refused("message", code, reply)
