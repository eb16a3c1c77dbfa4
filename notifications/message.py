"""Building the MIME message of an outbox row: multipart/alternative (plain text + HTML), UTF-8,
with the headers fixed at enqueue time, so a retry or a duplicate after a crash is the same
message with the same Message-ID."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any


def sender(name: str, address: str) -> Address:
    local, _, domain = address.partition("@")
    return Address(display_name=name, username=local, domain=domain)


def build(row: Mapping[str, Any], *, sender_name: str, sender_address: str) -> EmailMessage:
    """The message for a rendered ``mail_outbox`` row."""
    msg = EmailMessage()
    msg["Subject"] = row["subject"]
    msg["From"] = sender(sender_name, sender_address)
    msg["To"] = row["recipient"]
    msg["Reply-To"] = sender(sender_name, sender_address)
    created: datetime = row["created_at"]
    msg["Date"] = format_datetime(created)
    msg["Message-ID"] = row["message_id"]
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(row["body_text"], charset="utf-8")
    msg.add_alternative(row["body_html"], subtype="html", charset="utf-8")
    return msg
