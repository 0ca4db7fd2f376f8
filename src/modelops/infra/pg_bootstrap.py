"""The managed store's bootstrap: admin -> runtime role separation on a PostgreSQL server we are not superuser of.

Azure Database for PostgreSQL gives its admin CREATEROLE and CREATEDB but not SUPERUSER, so this is written for
exactly that: it logs in as the admin, and makes (or brings back in line) one run's runtime role, database and
schema. Every step checks before it acts, so the Job can run any number of times (a re-run after a password
rotation converges; a run `up` again changes nothing).

What the runtime role ends up with:
- LOGIN with the run's password; no SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS;
- CONNECT and TEMPORARY on its database (the database itself stays the admin's: the runners cannot drop it);
- ownership of one schema (``optuna`` by default) and nothing else, with ``search_path`` set to it in that
  database, so Optuna's tables land there; no CREATE on ``public``, nothing on any other database.

Run in the cluster as ``mops adaptive bootstrap-store`` (the Job's command), with PG* naming the server and the
admin, and the two passwords in files mounted from Key Vault (never in the environment or a manifest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A non-superuser admin may not even mention SUPERUSER, REPLICATION or BYPASSRLS; a new role has none of them, and an
# existing one that has any is refused below rather than silently trusted.
ROLE_FLAGS = "LOGIN NOCREATEDB NOCREATEROLE"


class BootstrapError(RuntimeError):
    """The bootstrap could not finish; the message says which step and why (never a password)."""


@dataclass(frozen=True)
class Bootstrap:
    """One run's database objects on the shared server."""

    database: str
    user: str
    schema: str
    password: str = field(repr=False)


def _exists(cur: Any, query: str, value: str) -> bool:
    cur.execute(query, (value,))
    return cur.fetchone() is not None


def bootstrap(admin_conninfo: str, plan: Bootstrap, *, admin_password: str | None = None) -> list[str]:
    """Create or converge the runtime role, database and schema; returns what was done, step by step.

    ``admin_conninfo`` is a libpq connection string without the password (e.g. ``host=... user=... dbname=postgres
    sslmode=verify-full``); ``admin_password`` is passed separately so it never appears in a message.
    """
    import psycopg
    from psycopg import sql

    role, db, schema = sql.Identifier(plan.user), sql.Identifier(plan.database), sql.Identifier(plan.schema)
    done: list[str] = []
    kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": 15}
    if admin_password is not None:
        kwargs["password"] = admin_password
    try:
        with psycopg.connect(admin_conninfo, **kwargs) as conn, conn.cursor() as cur:
            if not _exists(cur, "SELECT 1 FROM pg_roles WHERE rolname = %s", plan.user):
                cur.execute(sql.SQL("CREATE ROLE {} " + ROLE_FLAGS).format(role))
                done.append(f"created role {plan.user}")
            cur.execute(
                "SELECT rolsuper OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = %s", (plan.user,)
            )
            if cur.fetchone() != (False,):
                raise BootstrapError(
                    f"role {plan.user} already exists with SUPERUSER, REPLICATION or BYPASSRLS; the runtime role must "
                    "have none: choose another central_store.user, or have the server admin drop that role"
                )
            # Utility statements take no bind parameters: the password goes in as a quoted literal.
            cur.execute(
                sql.SQL("ALTER ROLE {} WITH " + ROLE_FLAGS + " PASSWORD {}").format(role, sql.Literal(plan.password))
            )
            # A non-superuser admin may create objects owned by a role only while a member of it.
            cur.execute(
                "SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
                "JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = %s AND u.rolname = current_user",
                (plan.user,),
            )
            if cur.fetchone() is None:
                cur.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(role))
            if not _exists(cur, "SELECT 1 FROM pg_database WHERE datname = %s", plan.database):
                cur.execute(sql.SQL("CREATE DATABASE {}").format(db))
                done.append(f"created database {plan.database}")
            cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
            cur.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(db, role))
        conninfo = psycopg.conninfo.make_conninfo(admin_conninfo, dbname=plan.database)
        with psycopg.connect(conninfo, **kwargs) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(schema, role))
            cur.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(schema, role))
            # PostgreSQL 15+ already refuses CREATE on public to PUBLIC; older servers do not.
            cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            cur.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} SET search_path = {}").format(role, db, schema))
        done.append(f"role {plan.user} owns schema {plan.database}.{plan.schema}")
    except psycopg.Error as exc:
        # psycopg's message names the server and the failing statement's kind, never the password literal
        # (PostgreSQL does not echo utility statements' text in errors).
        raise BootstrapError(f"bootstrap of {plan.database} failed: {type(exc).__name__}: {exc}") from None
    return done


def adopt_public(admin_conninfo: str, plan: Bootstrap, *, admin_password: str | None = None) -> int:
    """Move the tables a migration restored into ``public`` (as the admin) into the runtime role's schema, owned
    by that role; returns how many relations moved. For in-cluster -> managed migrations (docs/cloud.md): the
    in-cluster store keeps Optuna's tables in ``public``, and the runtime role may not create there.

    Refuses when the runtime schema already holds tables (a study already running there is never overwritten)."""
    import psycopg
    from psycopg import sql

    kwargs: dict[str, Any] = {"connect_timeout": 15}
    if admin_password is not None:
        kwargs["password"] = admin_password
    conninfo = psycopg.conninfo.make_conninfo(admin_conninfo, dbname=plan.database)
    try:
        with psycopg.connect(conninfo, **kwargs) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (plan.schema,))
            if cur.fetchone() != (0,):
                raise BootstrapError(
                    f"schema {plan.database}.{plan.schema} already holds tables; adopt only into a fresh run "
                    "(nothing was changed)"
                )
            cur.execute(
                "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S', 'v', 'p') ORDER BY c.relkind DESC, c.relname"
            )
            relations = cur.fetchall()
            target = sql.Identifier(plan.schema)
            role = sql.Identifier(plan.user)
            for name, kind in relations:
                # A sequence owned by a table column has already moved with its table.
                cur.execute("SELECT to_regclass(%s)", (sql.Identifier("public", name).as_string(conn),))
                if cur.fetchone() == (None,):
                    continue
                stmt = {"S": "ALTER SEQUENCE {} SET SCHEMA {}", "v": "ALTER VIEW {} SET SCHEMA {}"}.get(
                    kind, "ALTER TABLE {} SET SCHEMA {}"
                )
                cur.execute(sql.SQL(stmt).format(sql.Identifier("public", name), target))
            cur.execute(
                "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'S', 'v', 'p')",
                (plan.schema,),
            )
            for name, kind in cur.fetchall():
                what = {"S": "SEQUENCE", "v": "VIEW"}.get(kind, "TABLE")
                cur.execute(sql.SQL(f"ALTER {what} {{}} OWNER TO {{}}").format(sql.Identifier(plan.schema, name), role))
            # Enum types Optuna defines move too (their tables already reference them by oid).
            cur.execute(
                "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE n.nspname = 'public' AND t.typtype = 'e'"
            )
            for (name,) in cur.fetchall():
                cur.execute(sql.SQL("ALTER TYPE {} SET SCHEMA {}").format(sql.Identifier("public", name), target))
                cur.execute(sql.SQL("ALTER TYPE {} OWNER TO {}").format(sql.Identifier(plan.schema, name), role))
            conn.commit()
            return len(relations)
    except psycopg.Error as exc:
        raise BootstrapError(f"adopting the restored tables failed: {type(exc).__name__}: {exc}") from None


def read_secret_file(path: str | Path, what: str) -> str:
    """A password from a file mounted by the Secrets Store CSI driver (trailing newline dropped)."""
    p = Path(path)
    try:
        value = p.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise BootstrapError(
            f"cannot read the {what} from {p}: {exc.strerror}; is the Key Vault secret there and the "
            "SecretProviderClass mounted?"
        ) from None
    if not value:
        raise BootstrapError(f"the {what} file {p} is empty; set the Key Vault secret")
    return value
