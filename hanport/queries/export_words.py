"""A case's history in plain Norwegian (bokmål) words, for the person it is about: what each
workflow is, what each state means, and who acted — by kind, never by name (a test keeps every
state of every workflow version covered)."""

from __future__ import annotations

WORKFLOWS: dict[str, str] = {
    "nore_open": "Åpning av HAN-porten (Nore)",
    "meter_swap": "Bytte av måler før åpning av HAN-porten",
    "close_port": "Stenging av HAN-porten",
    "privacy_request": "Henvendelse om personopplysningene dine",
}

# (workflow, state) → what it means; a state a workflow does not name here takes the word of
# the state by name alone ("*").
STATES: dict[tuple[str, str], str] = {
    ("*", "requested"): "Forespørselen er mottatt",
    ("close_port", "requested"): "Du ba om å få stengt porten; vi kontrollerer hvem som spurte",
    ("*", "awaiting_consent"): "Vi venter på den signerte samtykkeerklæringen din",
    ("*", "address_review"): "Adressen eller avsenderen på samtykket stemte ikke; en leder "
    "vurderer det",
    ("*", "identity_review"): "En saksbehandler kontrollerer at forespørselen kommer fra deg",
    ("*", "objection_window"): "Du er varslet; porten åpnes når fristen for å protestere er ute",
    ("*", "objected"): "Du protesterte; ingenting ble åpnet",
    ("*", "opening"): "Kommandoen om å åpne porten er sendt til måleren",
    ("*", "closing"): "Kommandoen om å stenge porten er sendt til måleren",
    ("*", "needs_attention"): "Måleren svarte ikke; en saksbehandler følger det opp",
    ("*", "confirmed"): "Porten er åpnet",
    ("*", "closed"): "Porten er stengt",
    ("*", "rejected"): "Samtykket ble avvist",
    ("close_port", "rejected"): "Forespørselen ble avvist",
    ("*", "expired"): "Samtykket kom ikke inn i tide",
    ("*", "cancelled"): "Saken ble avsluttet uten å bli fullført",
    ("*", "queued"): "Du står i køen for målerbytte (omtrent 1–2 måneder)",
    ("*", "visit_scheduled"): "Montørbesøket er avtalt",
    ("*", "scheduled"): "Porten stenges automatisk på det tidspunktet flyttingen eller "
    "oppsigelsen gjelder fra",
    ("privacy_request", "identity_check"): "Henvendelsen er mottatt; vi kontrollerer hvem "
    "som spurte",
    ("privacy_request", "in_progress"): "Vi behandler henvendelsen din",
    ("privacy_request", "restricted"): "Behandlingen av opplysningene dine er begrenset: vi "
    "lagrer dem, men bruker dem ikke",
    ("privacy_request", "answered"): "Henvendelsen er besvart",
    ("privacy_request", "refused"): "Henvendelsen ble avslått, med begrunnelse",
    ("privacy_request", "lifted"): "Begrensningen er opphevet",
    ("privacy_request", "cancelled"): "Du trakk henvendelsen tilbake",
}

# Who acted, by the kind of actor the history records.
ACTORS: dict[str, str] = {
    "caseworker": "saksbehandler",
    "supervisor": "leder",
    "customer": "du",
    "scheduler": "systemet (tidsfrist)",
    "batch": "systemet (melding om flytting eller oppsigelse)",
    "hes": "målersystemet",
    "system": "systemet",
}

ROLES: dict[str, str] = {
    "caseworker": "saksbehandler",
    "supervisor": "leder",
    "auditor": "revisor",
    "privacy": "personvernombud",
    "system": "systemet",
    "customer": "du",
}

END_REASONS: dict[str, str] = {
    "withdrawn": "trukket tilbake",
    "move_out": "flyttet",
    "end_of_supply": "kontrakten avsluttet",
    "move_in": "ny kunde flyttet inn",
    "meter_replaced": "måleren ble byttet",
    "cancelled": "saken ble avsluttet",
    "expired": "utløpt",
}

PORT_STATES: dict[str, str] = {
    "none": "ingen HAN-port",
    "closed": "stengt",
    "opening": "åpnes",
    "open": "åpen",
    "closing": "stenges",
}


def state_words(workflow: str, state: str) -> str:
    """What ``state`` of ``workflow`` means, in words (the name itself when none is known)."""
    return STATES.get((workflow, state)) or STATES.get(("*", state)) or state


def actor_words(kind: str) -> str:
    return ACTORS.get(kind, kind)


# What a read of the access log read, and why, as the log records them.
READ_WHAT: dict[str, str] = {
    "contact details": "kontaktopplysninger",
    "contact history": "tidligere kontaktopplysninger",
    "case notes": "notater i en sak",
    "mail as sent": "en e-post slik den ble sendt",
    "mail for delivery": "en e-post som skulle sendes",
    "consent signer": "hvem som signerte et samtykke",
    "installation address": "anleggsadressen",
    "record of reads": "denne loggen",
    "web form as typed": "et skjema fra nettsidene slik det ble fylt ut",
}
PURPOSES: dict[str, str] = {
    "casework": "saksbehandling",
    "processing": "behandling av en sak",
    "audit": "revisjon",
    "data-protection review": "personvernkontroll",
    "access request": "innsynsforespørselen din",
}

# The customer record's fields, as a snapshot of its history names them.
FIELDS: dict[str, str] = {
    "customer_id": "kundenummer",
    "name": "navn",
    "email": "e-post",
    "phone": "telefon",
    "street": "adresse",
    "postal_code": "postnummer",
    "city": "poststed",
    "language": "språk",
    "energipilot": "ENERGIPILOT",
}
