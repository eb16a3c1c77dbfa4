"""The MIME message written out by notifications.message, read back with the ``email`` package
(the modern policy, as a mail client would): headers, encoded words, both parts, stability."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanport.notifications.message import build, encode_header

ROW = {
    "message_id": "<HAN-2026-000001.3.port_opened@foie.no>",
    "recipient": "kari@example.no",
    "subject": "HAN-porten din er åpnet – sak HAN-2026-000001 (målernummer slutter på 0861)",
    "body_text": "Hei Kari Nordmann,\n\nHAN-porten på måleren din er åpnet.\n",
    "body_html": "<p>Hei Kari Nordmann,</p><p>HAN-porten på måleren din er åpnet.</p>",
    "created_at": datetime(2026, 3, 2, 7, 30, tzinfo=UTC),
}


def _parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_the_message_reads_back_as_written() -> None:
    out = build(ROW, sender_name="Føie AS kundesenter", sender_address="kontakt@foie.no")
    assert (out.sender, out.recipient, out.message_id) == (
        "kontakt@foie.no",
        "kari@example.no",
        ROW["message_id"],
    )
    assert not out.needs_smtputf8
    msg = _parse(out.data)
    assert msg["Subject"] == ROW["subject"]
    assert str(msg["From"]) == "Føie AS kundesenter <kontakt@foie.no>"
    assert str(msg["Reply-To"]) == str(msg["From"])
    assert msg["To"] == "kari@example.no"
    assert msg["Message-ID"] == ROW["message_id"]
    assert msg["Date"].datetime == ROW["created_at"]
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.iter_parts()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert plain.get_content() == ROW["body_text"]
    assert html.get_content() == ROW["body_html"]
    assert not msg.defects and not plain.defects and not html.defects
    assert all(len(line) <= 78 for line in out.data.decode().splitlines())


def test_a_resend_is_the_same_message_byte_for_byte() -> None:
    one = build(ROW, sender_name="Føie", sender_address="kontakt@foie.no")
    two = build(dict(ROW), sender_name="Føie", sender_address="kontakt@foie.no")
    assert one.data == two.data


def test_a_line_break_in_a_header_is_refused() -> None:
    with pytest.raises(ValueError, match="To"):
        build(
            {**ROW, "recipient": "kari@example.no\nBcc: x@example.com"},
            sender_name="Føie",
            sender_address="kontakt@foie.no",
        )


def test_an_internationalised_address_asks_for_smtputf8() -> None:
    out = build({**ROW, "recipient": "ola@bø.no"}, sender_name="F", sender_address="k@foie.no")
    assert out.needs_smtputf8
    assert _parse(out.data)["To"] == "ola@bø.no"


@given(st.text(min_size=1, max_size=300).filter(lambda s: s.strip() == s and s.isprintable()))
def test_any_subject_survives_encoding(subject: str) -> None:
    header = encode_header("Subject", subject)
    assert all(len(line) <= 78 for line in header.splitlines())
    msg = _parse((header + "\n\nbody\n").encode())
    assert msg["Subject"] == subject
