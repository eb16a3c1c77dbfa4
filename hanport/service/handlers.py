"""One handler per command: the registry ``hanport.service.run`` dispatches through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hanport.service import (
    batch,
    cases,
    customer_links,
    erasure,
    hes,
    intake,
    ledgers,
    mail,
    migration,
    points,
    registry,
    retention,
    subject_requests,
    timers,
)
from hanport.service import commands as c

HANDLERS: dict[type, Callable[..., Any]] = {
    c.OpenCase: cases.open_case,
    c.Advance: cases.advance,
    c.MigrateCases: migration.migrate,
    c.ImportCustomers: registry.import_customers,
    c.ImportMeteringPoints: points.import_points,
    c.UpdateCustomer: registry.update_customer,
    c.RunTerminations: batch.run_terminations,
    c.FireTimers: timers.fire_due,
    c.DispatchHes: hes.dispatch,
    c.ApplyHesAnswers: hes.apply_answers,
    c.AnswerHes: hes.answer,
    c.DeliverMail: mail.deliver,
    c.RetryMail: mail.retry_mail,
    c.RetryWaitingMail: mail.retry_waiting,
    c.SubmitIntake: intake.submit,
    c.ProcessIntakes: intake.process,
    c.ResolveIntake: intake.resolve,
    c.CustomerLink: customer_links.act,
    c.RekeyLedgers: ledgers.rekey,
    c.OpenSubjectRequest: subject_requests.open_request,
    c.EraseCustomer: erasure.erase_customer,
    c.EraseSigner: erasure.erase_signer,
    c.ReapplyErasures: erasure.reapply,
    c.ApplyRetention: retention.apply_retention,
}
