"""A customer's export as one HTML page in Norwegian (bokmål) for the person it is about
(``templates/export/customer.html.j2``): inline CSS, no script, no external URL — it opens
offline. Instants are shown in Norwegian time (Europe/Oslo), to the minute."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment

from hanport.calendar import OSLO
from hanport.queries.export_words import FIELDS
from hanport.templates import environment

MONTHS = (
    "januar", "februar", "mars", "april", "mai", "juni",
    "juli", "august", "september", "oktober", "november", "desember",
)  # fmt: skip

CHANNELS = {"form": "skjema", "email": "e-post", "phone": "telefon", "web": "nettskjema"}
SECURITY = {
    "inside_dwelling": "måleren er inne i boligen",
    "locked_room": "måleren er i et låsbart rom",
    "locked_cabinet": "måleren er i et låsbart skap",
    "shared_locked_meter_room": "måleren er i et låsbart felles målerrom",
}
SIGNER_ROLES = {"subscriber": "abonnenten selv", "power_of_attorney": "med fullmakt"}
MAIL_STATUS = {
    "sent": "sendt",
    "pending": "ikke sendt ennå",
    "dead": "kunne ikke leveres",
    "no_address": "ingen e-postadresse",
}
INTAKE_FORMS = {
    "nore_order": "bestilling og samtykke",
    "swap_order": "bestilling av målerbytte",
    "close_request": "stenging av HAN-porten",
}
INTAKE_STATUS = {
    "new": "mottatt",
    "done": "ble en sak",
    "merged": "lagt til en sak du allerede hadde",
    "review": "til kontroll hos en saksbehandler",
    "resolved": "avgjort av en saksbehandler",
}


def norsk(value: str | datetime | None) -> str:
    """An instant as ``2. mars 2026 kl. 09.15`` in Norwegian time; ``–`` for none."""
    if value is None or value == "":
        return "–"
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = dt.astimezone(OSLO)
    return f"{local.day}. {MONTHS[local.month - 1]} {local.year} kl. {local:%H.%M}"


def yes_no(value: object) -> str:
    return "ja" if value else "nei"


@cache
def _env() -> Environment:
    env = environment("export", autoescape=True)
    env.filters["norsk"] = norsk
    env.filters["ja_nei"] = yes_no
    return env


def to_html(export: dict[str, Any]) -> str:
    return (
        _env()
        .get_template("customer.html.j2")
        .render(
            x=export,
            c=export["customer"],
            channels=CHANNELS,
            security=SECURITY,
            signer_roles=SIGNER_ROLES,
            mail_status=MAIL_STATUS,
            intake_forms=INTAKE_FORMS,
            intake_status=INTAKE_STATUS,
            fields=FIELDS,
        )
    )
