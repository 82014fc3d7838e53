"""Initial schema: every table of storage.rows, and an append-only audit_log on PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 04:46:14.731884+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGINT identities on PostgreSQL; on SQLite an INTEGER primary key is the rowid (autoincrementing).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ACTIVE_DEPLOYMENT = "status IN ('pending_approval', 'queued', 'running')"
ACTIVE_LOCK = "released_at IS NULL"

# PostgreSQL only: the database itself refuses to rewrite or erase the audit trail.
AUDIT_LOG_GUARD_FUNCTION = """
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""
AUDIT_LOG_GUARD_ROWS = """
CREATE TRIGGER audit_log_refuse_update_delete
BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()
"""
AUDIT_LOG_GUARD_TRUNCATE = """
CREATE TRIGGER audit_log_refuse_truncate
BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()
"""


# Full-text search of runbooks, beside the tables of storage.rows (storage.runbooks reads it; its
# ``is_search_object`` names these objects so that schema comparisons leave them out).
# PostgreSQL: a GIN index on the weighted document storage.runbooks ranks and excerpts.
RUNBOOK_SEARCH_INDEX = """
CREATE INDEX ix_runbooks_search ON runbooks USING gin ((
    setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') ||
    setweight(to_tsvector('english'::regconfig, coalesce(tags::text, '')), 'A') ||
    setweight(to_tsvector('english'::regconfig, coalesce(content, '')), 'B')
))
"""
# SQLite: an FTS5 table over the runbooks rows (external content), kept in step by triggers.
RUNBOOK_FTS = (
    """
CREATE VIRTUAL TABLE runbooks_fts USING fts5(
    title, content, tags, content='runbooks', content_rowid='id', tokenize='porter unicode61'
)
""",
    """
CREATE TRIGGER runbooks_fts_insert AFTER INSERT ON runbooks BEGIN
    INSERT INTO runbooks_fts (rowid, title, content, tags) VALUES (new.id, new.title, new.content, new.tags);
END
""",
    """
CREATE TRIGGER runbooks_fts_delete AFTER DELETE ON runbooks BEGIN
    INSERT INTO runbooks_fts (runbooks_fts, rowid, title, content, tags)
    VALUES ('delete', old.id, old.title, old.content, old.tags);
END
""",
    """
CREATE TRIGGER runbooks_fts_update AFTER UPDATE ON runbooks BEGIN
    INSERT INTO runbooks_fts (runbooks_fts, rowid, title, content, tags)
    VALUES ('delete', old.id, old.title, old.content, old.tags);
    INSERT INTO runbooks_fts (rowid, title, content, tags) VALUES (new.id, new.title, new.content, new.tags);
END
""",
)


def _is_postgresql() -> bool:
    # The context (not the bind) also knows the dialect in offline (--sql) mode.
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("slack_channel", sa.String(length=80), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("digest_day", sa.String(length=3), nullable=False),
        sa.Column("digest_time", sa.String(length=5), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("team_id", BIG_ID, nullable=True),
        sa.Column("notify_prefs", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_users_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("slack_user_id", name=op.f("uq_users_slack_user_id")),
    )
    op.create_table(
        "environments",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_production", sa.Boolean(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("webhook_secret", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environments")),
        sa.UniqueConstraint("name", name=op.f("uq_environments_name")),
    )
    op.create_table(
        "services",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("team_id", BIG_ID, nullable=False),
        sa.Column("slack_channel", sa.String(length=80), nullable=False),
        sa.Column("repo_url", sa.String(length=500), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("notify_level", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_services_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("name", name=op.f("uq_services_name")),
    )
    op.create_table(
        "releases",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("service_id", BIG_ID, nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("commit_sha", sa.String(length=64), nullable=True),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_releases_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint("service_id", "version", name="uq_releases_service_version"),
    )
    # DORA lead time: a commit's earlier releases.
    op.create_index("ix_releases_service_commit", "releases", ["service_id", "commit_sha"])
    op.create_table(
        "deployments",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("release_id", BIG_ID, nullable=False),
        sa.Column("service_id", BIG_ID, nullable=False),
        sa.Column("environment_id", BIG_ID, nullable=False),
        sa.Column("team_id", BIG_ID, nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("event_id", sa.String(length=200), nullable=True),
        sa.Column("import_digest", sa.String(length=64), nullable=True),
        sa.Column("rollback_of_id", BIG_ID, nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("bypasses", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_deployments_environment_id_environments")
        ),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"], name=op.f("fk_deployments_release_id_releases")),
        sa.ForeignKeyConstraint(
            ["rollback_of_id"], ["deployments.id"], name=op.f("fk_deployments_rollback_of_id_deployments")
        ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_deployments_service_id_services")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_deployments_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("event_id", name=op.f("uq_deployments_event_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_deployments_idempotency_key")),
    )
    # One active deployment per service and environment, enforced by the database.
    op.create_index(
        "uq_deployments_one_active",
        "deployments",
        ["service_id", "environment_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_DEPLOYMENT),
        postgresql_where=sa.text(ACTIVE_DEPLOYMENT),
    )
    op.create_index("ix_deployments_env_finished", "deployments", ["environment_id", "finished_at"])
    op.create_index("ix_deployments_requested_by", "deployments", ["requested_by", "id"])
    # DORA metrics: a team's window, a release's deployments, the earliest deployment.
    op.create_index("ix_deployments_team_env_finished", "deployments", ["team_id", "environment_id", "finished_at"])
    op.create_index("ix_deployments_release_finished", "deployments", ["release_id", "finished_at"])
    op.create_index("ix_deployments_started", "deployments", ["started_at"])
    op.create_index(
        "ix_deployments_service_env_finished",
        "deployments",
        ["service_id", "environment_id", "finished_at"],
    )
    op.create_table(
        "deployment_stages",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("deployment_id", BIG_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("executor", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("timeout_s", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("runner", sa.String(length=80), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempt", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_stages_deployment_id_deployments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_stages")),
        sa.UniqueConstraint("deployment_id", "position", name="uq_deployment_stages_position"),
    )
    op.create_index("ix_deployment_stages_status", "deployment_stages", ["status"])
    op.create_table(
        "approvals",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("deployment_id", BIG_ID, nullable=False),
        sa.Column("approver", sa.String(length=32), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("bypass", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"], ["deployments.id"], name=op.f("fk_approvals_deployment_id_deployments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
        sa.UniqueConstraint("deployment_id", "approver", name="uq_approvals_deployment_approver"),
    )
    op.create_table(
        "rollbacks",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("service_id", BIG_ID, nullable=False),
        sa.Column("environment_id", BIG_ID, nullable=False),
        sa.Column("from_deployment_id", BIG_ID, nullable=True),
        sa.Column("to_release_id", BIG_ID, nullable=False),
        sa.Column("deployment_id", BIG_ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("initiated_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"], ["deployments.id"], name=op.f("fk_rollbacks_deployment_id_deployments")
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_rollbacks_environment_id_environments")
        ),
        sa.ForeignKeyConstraint(
            ["from_deployment_id"],
            ["deployments.id"],
            name=op.f("fk_rollbacks_from_deployment_id_deployments"),
        ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_rollbacks_service_id_services")),
        sa.ForeignKeyConstraint(["to_release_id"], ["releases.id"], name=op.f("fk_rollbacks_to_release_id_releases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollbacks")),
        sa.UniqueConstraint("deployment_id", name=op.f("uq_rollbacks_deployment_id")),
    )
    op.create_table(
        "incidents",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("deployment_id", BIG_ID, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"], ["deployments.id"], name=op.f("fk_incidents_deployment_id_deployments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("deployment_id", name=op.f("uq_incidents_deployment_id")),
    )
    # DORA metrics: incidents opened or resolved in a period.
    op.create_index("ix_incidents_opened", "incidents", ["opened_at"])
    op.create_index("ix_incidents_resolved", "incidents", ["resolved_at"])
    op.create_table(
        "deployment_metrics",
        sa.Column("deployment_id", BIG_ID, nullable=False),
        sa.Column("lead_time_s", sa.Double(), nullable=True),
        sa.Column("duration_s", sa.Double(), nullable=True),
        sa.Column("first_of_commit", sa.Boolean(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_metrics_deployment_id_deployments"),
        ),
        sa.PrimaryKeyConstraint("deployment_id", name=op.f("pk_deployment_metrics")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=120), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    if _is_postgresql():
        op.execute(AUDIT_LOG_GUARD_FUNCTION)
        op.execute(AUDIT_LOG_GUARD_ROWS)
        op.execute(AUDIT_LOG_GUARD_TRUNCATE)
    op.create_table(
        "runbooks",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("service_id", BIG_ID, nullable=True),
        sa.Column("environment_id", BIG_ID, nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_runbooks_environment_id_environments")
        ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_runbooks_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runbooks")),
    )
    if _is_postgresql():
        op.execute(RUNBOOK_SEARCH_INDEX)
    elif op.get_context().dialect.name == "sqlite":
        for statement in RUNBOOK_FTS:
            op.execute(statement)
    op.create_table(
        "locks",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("scope_key", sa.String(length=80), nullable=False),
        sa.Column("environment_id", BIG_ID, nullable=False),
        sa.Column("service_id", BIG_ID, nullable=True),
        sa.Column("owner", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_locks_environment_id_environments")
        ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_locks_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locks")),
    )
    # One unreleased lock per scope, enforced by the database.
    op.create_index(
        "uq_locks_one_active",
        "locks",
        ["scope_key"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_LOCK),
        postgresql_where=sa.text(ACTIVE_LOCK),
    )
    op.create_table(
        "freezes",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("environment_id", BIG_ID, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cron", sa.String(length=120), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name=op.f("fk_freezes_environment_id_environments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_freezes")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=80), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("message_key", sa.String(length=120), nullable=True),
        sa.Column("thread_key", sa.String(length=120), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("slack_channel", sa.String(length=80), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_pending", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "slack_messages",
        sa.Column("message_key", sa.String(length=120), nullable=False),
        sa.Column("channel", sa.String(length=80), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_key", name=op.f("pk_slack_messages")),
    )
    op.create_table(
        "digest_runs",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("scope", sa.String(length=120), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_runs")),
        sa.UniqueConstraint("scope", "period_start", name="uq_digest_runs_scope_period"),
    )
    op.create_table(
        "processed_requests",
        sa.Column("request_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_key", name=op.f("pk_processed_requests")),
    )
    op.create_table(
        "home_views",
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("slack_user_id", name=op.f("pk_home_views")),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; the audit_log guard (PostgreSQL) is removed explicitly.
    op.drop_table("home_views")
    op.drop_table("processed_requests")
    op.drop_table("digest_runs")
    op.drop_table("slack_messages")
    op.drop_table("outbox")
    op.drop_table("freezes")
    op.drop_table("locks")
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS runbooks_fts")  # its triggers go with the runbooks table
    op.drop_table("runbooks")
    if _is_postgresql():
        op.execute("DROP TRIGGER IF EXISTS audit_log_refuse_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_refuse_update_delete ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_refuse_change()")
    op.drop_table("audit_log")
    op.drop_table("deployment_metrics")
    op.drop_table("incidents")
    op.drop_table("rollbacks")
    op.drop_table("approvals")
    op.drop_table("deployment_stages")
    op.drop_table("deployments")
    op.drop_table("releases")
    op.drop_table("services")
    op.drop_table("environments")
    op.drop_table("users")
    op.drop_table("teams")
