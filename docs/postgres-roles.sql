-- hanport on PostgreSQL: three roles, so that the application cannot rewrite history.
--
--   hanport_owner    owns the schema and the tables; runs `hanport db upgrade` (migrations).
--   hanport_app      what the CLI, the scheduler and the batch connect as: reads and writes rows,
--                    but owns nothing, so it cannot disable or drop the append-only triggers,
--                    and it has no UPDATE, DELETE or TRUNCATE on case_events and port_events.
--   hanport_auditor  reads everything, writes nothing (`hanport audit …`).
--
-- Who acts is the login (hanport reads `session_user`), and what they may do is their membership
-- of a hanport group role (these roles log nobody in):
--   hanport_caseworker, hanport_supervisor   work the cases (they hold hanport_app's rights)
--   hanport_scheduler, hanport_batch         the scheduler's and the nightly batch's logins
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
END $$;
-- The working groups hold the application role's rights; the privacy officer reads like an auditor.
GRANT hanport_app TO hanport_caseworker, hanport_supervisor, hanport_scheduler, hanport_batch;
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
GRANT USAGE ON SCHEMA hanport TO hanport_app, hanport_auditor;
ALTER ROLE hanport_owner SET search_path = hanport;
ALTER ROLE hanport_app SET search_path = hanport;
ALTER ROLE hanport_auditor SET search_path = hanport;

-- Tables and sequences the owner creates (now and in later migrations).
ALTER DEFAULT PRIVILEGES FOR ROLE hanport_owner IN SCHEMA hanport
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO hanport_app;
ALTER DEFAULT PRIVILEGES FOR ROLE hanport_owner IN SCHEMA hanport
  GRANT USAGE, SELECT ON SEQUENCES TO hanport_app;
ALTER DEFAULT PRIVILEGES FOR ROLE hanport_owner IN SCHEMA hanport
  GRANT SELECT ON TABLES TO hanport_auditor;

-- Run again after migrations: the grants on what exists, and history kept append-only.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA hanport TO hanport_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA hanport TO hanport_app;
GRANT SELECT ON ALL TABLES IN SCHEMA hanport TO hanport_auditor;
DO $$ BEGIN
  IF to_regclass('hanport.case_events') IS NOT NULL THEN
    REVOKE UPDATE, DELETE, TRUNCATE ON hanport.case_events FROM hanport_app;
  END IF;
  IF to_regclass('hanport.port_events') IS NOT NULL THEN
    REVOKE UPDATE, DELETE, TRUNCATE ON hanport.port_events FROM hanport_app;
  END IF;
END $$;
