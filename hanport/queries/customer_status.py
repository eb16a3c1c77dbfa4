"""What a customer's status link shows: the case's state and when it last moved — the words
for them are the page's (``hanport.web.texts``), in the customer's language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hanport.bootstrap import App
from hanport.links import LinkInvalid, LinkSigner
from hanport.storage.views import reading


@dataclass(frozen=True)
class StatusView:
    case: str
    workflow: str
    state: str
    final: bool
    opened_at: datetime
    updated_at: datetime
    expires_at: datetime


def view(app: App, token: str, language: str) -> StatusView:
    """The case a status link names; ``LinkInvalid`` / ``LinkExpired`` from the signer."""
    from hanport import workflows

    claim = LinkSigner.from_app(app).read(token, "status")
    with reading(app.engine) as views:
        row = views.cases.by_ref(claim.case)
    if row is None:
        raise LinkInvalid("status")  # the case is gone (erased): the link leads nowhere
    wf = workflows.get(row.workflow, row.workflow_version)
    return StatusView(
        row.ref,
        row.workflow,
        row.state,
        wf.state(row.state).final,
        row.created_at,
        row.updated_at,
        claim.expires_at,
    )
