"""Building the MIME message of an outbox row: multipart/alternative (plain text + HTML), UTF-8,
with the headers fixed at enqueue time, so a retry or a duplicate after a crash is the same
message with the same Message-ID.

Built with the ``email.mime`` classes (the compat32 policy): the modern policy re-parses every
header it is given and costs more than the SMTP conversation itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from typing import Any


def _text(body: str, subtype: str) -> MIMEText:
    return MIMEText(body, subtype, _charset="utf-8")


def build(row: Mapping[str, Any], *, sender_name: str, sender_address: str) -> MIMEMultipart:
    """The message for a rendered ``mail_outbox`` row."""
    msg = MIMEMultipart("alternative")
    sender = formataddr((sender_name, sender_address), charset="utf-8")
    msg["Subject"] = Header(row["subject"], "utf-8").encode()
    msg["From"] = sender
    msg["To"] = row["recipient"]
    msg["Reply-To"] = sender
    created: datetime = row["created_at"]
    msg["Date"] = format_datetime(created)
    msg["Message-ID"] = row["message_id"]
    msg["Auto-Submitted"] = "auto-generated"
    msg.attach(_text(row["body_text"], "plain"))
    msg.attach(_text(row["body_html"], "html"))
    return msg
