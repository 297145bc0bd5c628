"""E-mail over SMTP with STARTTLS: one message, plain-text and HTML alternatives.

Uses the standard library's smtplib in a worker thread (the event loop never blocks).
STARTTLS is required unless the channel sets `starttls = false` (a local relay only); the
server certificate is checked against the system CAs, or the channel's `cafile`."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from withdrawguard.notify.channel import SendContext
from withdrawguard.notify.config import Secret
from withdrawguard.notify.render import Message
from withdrawguard.notify.retry import DeliveryError, PermanentError


def build_email(
    m: Message, sender: str, recipients: tuple[str, ...], delivery_id: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = m.title
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Message-ID"] = make_msgid(idstring=delivery_id.replace(":", "."))
    msg["X-Withdrawguard-Delivery"] = delivery_id
    msg.set_content(m.text())
    msg.add_alternative(m.html(), subtype="html")
    return msg


class EmailChannel:
    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        sender: str,
        recipients: tuple[str, ...],
        username: str = "",
        password: Secret | None = None,
        starttls: bool = True,
        cafile: Path | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._host, self._port = host, port
        self._sender, self._recipients = sender, recipients
        self._username, self._password = username, password
        self._starttls, self._cafile, self._timeout = starttls, cafile, timeout

    async def send(self, alert: dict[str, Any], ctx: SendContext) -> None:
        msg = build_email(ctx.message, self._sender, self._recipients, ctx.delivery_id)
        await asyncio.to_thread(self._send_blocking, msg)

    def _send_blocking(self, msg: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                smtp.ehlo()
                if self._starttls:
                    context = ssl.create_default_context(
                        cafile=str(self._cafile) if self._cafile else None
                    )
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if self._username and self._password is not None:
                    smtp.login(self._username, self._password.reveal())
                smtp.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.smtp_code}"
            if 500 <= exc.smtp_code < 600:
                raise PermanentError(error) from None
            raise DeliveryError(error) from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__} talking to the SMTP server") from None
