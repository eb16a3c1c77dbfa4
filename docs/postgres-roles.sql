-- hanport on PostgreSQL: three roles, so that the application cannot rewrite history.
--
--   hanport_owner    owns the schema and the tables; runs `hanport db upgrade` (migrations).
--   hanport_app      what the CLI, the scheduler and the batch connect as: reads and writes rows,
--                    but owns nothing, so it cannot disable or drop the append-only triggers,
--                    and it has no UPDATE, DELETE or TRUNCATE on case_events, port_events and
--                    consent_events.
--   hanport_auditor  reads history and consent facts, writes nothing (`hanport audit …`); no
--                    SELECT on the columns that hold personal data (names, contact details,
--                    addresses, signers, mail text, notes): it reads those only through the
--                    personal_* functions, which write the access log's row in the same statement.
--
-- Who acts is the login (hanport reads `session_user`), and what they may do is their membership
-- of a hanport group role (these roles log nobody in):
--   hanport_caseworker, hanport_supervisor   work the cases (they hold hanport_staff's rights:
--                                            hanport_app's, but no SELECT on personal columns —
--                                            their commands read those through the logging
--                                            functions, so every read is in the access log)
--   hanport_scheduler, hanport_batch         the scheduler's and the nightly batch's logins
--                                            (they hold hanport_app's rights)
--   hanport_privacy                          the data-protection officer (reads, changes no case)
--   hanport_auditor                          (above) also the auditors' group
--   hanport_impersonate                      a service account that may act for a person (--as)
-- Each person gets a login of their own, e.g.
--   CREATE ROLE anne LOGIN PASSWORD '…' IN ROLE hanport_caseworker;
--
-- Run as a superuser, in the hanport database, with psql:
--   psql -v owner_pw="'…'" -v app_pw="'…'" -v auditor_pw="'…'" -d hanport -f docs/postgres-roles.sql
-- then migrate as the owner:
--   HANPORT_DATABASE_URL=postgresql://hanport_owner:…@host/hanport hanport db upgrade
-- and run the grants at the end of this file again after every migration (or rely on the default
-- privileges set below for tables the owner creates later).

\set ON_ERROR_STOP on

DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hanport_owner') THEN CREATE ROLE hanport_owner LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hanport_app') THEN CREATE ROLE hanport_app LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hanport_auditor') THEN CREATE ROLE hanport_auditor LOGIN; END IF;
END $$;

DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hanport_caseworker') THEN CREATE ROLE hanport_caseworker NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hanport_supervisor') THEN CREATE ROLE hanport_supervisor NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hanport_scheduler') THEN CREATE ROLE hanport_scheduler NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hanport_batch') THEN CREATE ROLE hanport_batch NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hanport_privacy') THEN CREATE ROLE hanport_privacy NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hanport_impersonate') THEN CREATE ROLE hanport_impersonate NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hanport_staff') THEN CREATE ROLE hanport_staff NOLOGIN; END IF;
END $$;
-- The service logins hold the application role's rights; the people who work the cases hold the
-- staff's (the same, without the personal columns); the privacy officer reads like an auditor.
GRANT hanport_app TO hanport_scheduler, hanport_batch;
GRANT hanport_staff TO hanport_caseworker, hanport_supervisor;
DO $$ BEGIN  -- an earlier version of this script gave the people hanport_app's rights
  IF pg_has_role('hanport_caseworker', 'hanport_app', 'MEMBER') THEN REVOKE hanport_app FROM hanport_caseworker; END IF;
  IF pg_has_role('hanport_supervisor', 'hanport_app', 'MEMBER') THEN REVOKE hanport_app FROM hanport_supervisor; END IF;
END $$;
GRANT hanport_auditor TO hanport_privacy;
-- Role settings are not inherited: the logins of the groups find the schema through the database.
DO $$ BEGIN
  EXECUTE format('ALTER DATABASE %I SET search_path = hanport', current_database());
END $$;

\if :{?owner_pw}
ALTER ROLE hanport_owner PASSWORD :owner_pw;
\endif
\if :{?app_pw}
ALTER ROLE hanport_app PASSWORD :app_pw;
\endif
\if :{?auditor_pw}
ALTER ROLE hanport_auditor PASSWORD :auditor_pw;
\endif

-- The schema belongs to the owner; the others may only use it.
CREATE SCHEMA IF NOT EXISTS hanport AUTHORIZATION hanport_owner;
REVOKE ALL ON SCHEMA hanport FROM PUBLIC;
GRANT USAGE ON SCHEMA hanport TO hanport_app, hanport_staff, hanport_auditor;
ALTER ROLE hanport_owner SET search_path = hanport;
ALTER ROLE hanport_app SET search_path = hanport;
ALTER ROLE hanport_auditor SET search_path = hanport;

-- Tables and sequences the owner creates (now and in later migrations).
ALTER DEFAULT PRIVILEGES FOR ROLE hanport_owner IN SCHEMA hanport
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO hanport_app, hanport_staff;
ALTER DEFAULT PRIVILEGES FOR ROLE hanport_owner IN SCHEMA hanport
  GRANT USAGE, SELECT ON SEQUENCES TO hanport_app, hanport_staff;
ALTER DEFAULT PRIVILEGES FOR ROLE hanport_owner IN SCHEMA hanport
  GRANT SELECT ON TABLES TO hanport_auditor;

-- Run again after migrations: the grants on what exists, and history kept append-only.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA hanport TO hanport_app, hanport_staff;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA hanport TO hanport_app, hanport_staff;
GRANT SELECT ON ALL TABLES IN SCHEMA hanport TO hanport_auditor;
DO $$ BEGIN
  IF to_regclass('hanport.case_events') IS NOT NULL THEN
    REVOKE UPDATE, DELETE, TRUNCATE ON hanport.case_events FROM hanport_app, hanport_staff;
  END IF;
  IF to_regclass('hanport.port_events') IS NOT NULL THEN
    REVOKE UPDATE, DELETE, TRUNCATE ON hanport.port_events FROM hanport_app, hanport_staff;
  END IF;
  IF to_regclass('hanport.consent_events') IS NOT NULL THEN
    REVOKE UPDATE, DELETE, TRUNCATE ON hanport.consent_events FROM hanport_app, hanport_staff;
  END IF;
END $$;

-- Personal data (hanport.storage.personal.PERSONAL_COLUMNS): the people — staff, auditors, the
-- privacy officer — read every other column; the personal ones only through the personal_*
-- (display) and processing_* (a command's own reads) functions, SECURITY DEFINER and owned by
-- the owner, each returned row logged in access_log. Only the service logins read them directly. The access
-- log is append-only (its trigger refuses UPDATE, DELETE and TRUNCATE, whoever asks, but for the
-- reads retention deletes past their period, below); only the
-- data-protection officer reads it, and nobody but its owner (through those functions) writes it.
-- Each read takes a number from the sequence access_log_reads, which a rollback does not return:
-- a reader who rolls back a read's transaction leaves a gap that `hanport audit access` reports.
DO $$ BEGIN
  IF to_regclass('hanport.access_log') IS NOT NULL THEN
    REVOKE SELECT ON hanport.customers, hanport.customer_history, hanport.metering_points,
      hanport.consents, hanport.case_notes, hanport.mail_outbox FROM hanport_auditor, hanport_staff;
    IF to_regclass('hanport.subject_keys') IS NOT NULL THEN
      -- the customers' own hashing keys: for the logins whose commands hash (with the pepper,
      -- which is configuration); an auditor replays and verifies without them
      REVOKE ALL ON hanport.subject_keys FROM hanport_auditor;
    END IF;
    IF to_regclass('hanport.intakes') IS NOT NULL THEN
      REVOKE SELECT ON hanport.intakes FROM hanport_auditor, hanport_staff;
      GRANT SELECT (id, form, form_token, language, received_at, declaration_version,
        declaration_sha256, status, customer_pk, case_id, outcome, processed_at, resolved_by,
        resolved_at, erased_at) ON hanport.intakes TO hanport_auditor, hanport_staff;
    END IF;
    GRANT SELECT (id, customer_id, language, energipilot, version, updated_at, erased_at)
      ON hanport.customers TO hanport_auditor, hanport_staff;
    GRANT SELECT (id, customer_pk, version, valid_from, changed_by, source, erased_at)
      ON hanport.customer_history TO hanport_auditor, hanport_staff;
    GRANT SELECT (id, gsrn, customer_pk, meter_number, municipality, han_port, port_since,
      consent_id, updated_at) ON hanport.metering_points TO hanport_auditor, hanport_staff;
    GRANT SELECT (id, case_id, customer_pk, point_id, meter_number, source, signer_role,
      address_match, security, channel, declaration_version, received_at, recorded_at,
      recorded_by, validated_by, opened_at, ended_at, end_reason, erased_at)
      ON hanport.consents TO hanport_auditor, hanport_staff;
    GRANT SELECT (id, case_id, seq, kind, author, created_at, erased_at)
      ON hanport.case_notes TO hanport_auditor, hanport_staff;
    GRANT SELECT (id, case_id, seq, template, language, status, message_id, subject, attempts,
      next_attempt_at, created_at, sent_at, erased_at)
      ON hanport.mail_outbox TO hanport_auditor, hanport_staff;
    REVOKE ALL ON hanport.access_log FROM hanport_app, hanport_staff, hanport_auditor;
    GRANT SELECT ON hanport.access_log TO hanport_privacy;
    REVOKE ALL ON SEQUENCE hanport.access_log_reads FROM hanport_app, hanport_staff, hanport_auditor;
    GRANT SELECT ON SEQUENCE hanport.access_log_reads TO hanport_privacy;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA hanport TO hanport_app, hanport_staff, hanport_auditor;
  END IF;
END $$;

-- Erasure (hanport.storage.erasure): the data-protection officer and the supervisors erase
-- through the erase_* functions (SECURITY DEFINER, owned by the owner), which replace a
-- subject's personal values with tombstones without letting the caller read them; they add the
-- ledger's row themselves (`erasures`: no personal data; its trigger refuses UPDATE, DELETE and
-- TRUNCATE, whoever asks, from migration 0012). Nobody else
-- may call them; the scheduler's retention clears mail bodies and settled web forms with its
-- own rights.
DO $$ BEGIN
  IF to_regclass('hanport.erasures') IS NOT NULL THEN
    REVOKE EXECUTE ON FUNCTION hanport.erase_contact, hanport.erase_subject, hanport.erase_signer
      FROM PUBLIC, hanport_app, hanport_staff, hanport_auditor;
    GRANT EXECUTE ON FUNCTION hanport.erase_contact, hanport.erase_subject, hanport.erase_signer
      TO hanport_privacy, hanport_supervisor;
    REVOKE UPDATE, DELETE, TRUNCATE ON hanport.erasures FROM hanport_app, hanport_staff;
    GRANT SELECT, INSERT ON hanport.erasures TO hanport_privacy;
    GRANT USAGE ON SEQUENCE hanport.erasures_id_seq TO hanport_privacy;
  END IF;
END $$;

-- Retention of the access log (migration 0012): the log's delete trigger lets through only the
-- reads the retention mark (retention_marks) has passed, and only retain_access_log (SECURITY
-- DEFINER, owned by the owner) moves the mark and deletes — for the service logins, whose
-- nightly slot runs retention. access_log_due counts what is due (`privacy due`), reading no
-- row. Nobody but the owner writes the mark.
DO $$ BEGIN
  IF to_regclass('hanport.retention_marks') IS NOT NULL THEN
    REVOKE EXECUTE ON FUNCTION hanport.retain_access_log FROM PUBLIC, hanport_staff, hanport_auditor;
    GRANT EXECUTE ON FUNCTION hanport.retain_access_log TO hanport_app;
    GRANT EXECUTE ON FUNCTION hanport.access_log_due TO hanport_app, hanport_staff, hanport_auditor;
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON hanport.retention_marks FROM hanport_app, hanport_staff;
  END IF;
END $$;

-- `hanport privacy vacuum` (VACUUM FULL of the tables that hold personal values, after erasures
-- and the nightly slot) runs as hanport_owner: only a table's owner may rewrite it. Making
-- hanport_owner the database's owner lets it rewrite pg_statistic too (needed once, for a
-- database analysed before migration 0012):  ALTER DATABASE hanport OWNER TO hanport_owner;
