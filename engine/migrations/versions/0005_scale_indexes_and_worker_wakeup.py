"""indexes for the monthly report; on PostgreSQL, wake the worker when work arrives

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 06:00:00

The monthly and quarterly reports select one period's audits and tasks: audits by
(process_id, started_at), tasks by spec_name and their completion, deadline or creation time.
Without these indexes each report scanned every audit and task ever held, so its cost grew
with the whole history rather than with the period (bench/scale.py).

On PostgreSQL, triggers NOTIFY the channel `qaflow_worker` when a transaction gives an audit
a timer earlier than the one it had (or its first), or queues a notification. The worker
LISTENs and wakes at once, instead of sleeping on to the earliest due time it knew of (up to a
minute) when another process created work meanwhile. NOTIFY is delivered at commit, and only
once per transaction however many rows changed.
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

CHANNEL = 'qaflow_worker'


def upgrade() -> None:
    with op.batch_alter_table('instance', schema=None) as batch_op:
        batch_op.create_index('ix_instance_process_started', ['process_id', 'started_at'], unique=False)
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.create_index('ix_human_task_spec_completed', ['spec_name', 'completed_at'], unique=False)
        batch_op.create_index('ix_human_task_spec_due', ['spec_name', 'due_at'], unique=False)
        batch_op.create_index('ix_human_task_spec_created', ['spec_name', 'created_at'], unique=False)
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(f"""
        CREATE FUNCTION qaflow_wake_worker() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER instance_timer_set AFTER INSERT ON instance FOR EACH ROW
        WHEN (NEW.next_timer_at IS NOT NULL AND NEW.status = 'running')
        EXECUTE FUNCTION qaflow_wake_worker()""")
    op.execute("""
        CREATE TRIGGER instance_timer_earlier AFTER UPDATE OF next_timer_at ON instance FOR EACH ROW
        WHEN (NEW.next_timer_at IS NOT NULL AND NEW.status = 'running'
              AND (OLD.next_timer_at IS NULL OR NEW.next_timer_at < OLD.next_timer_at))
        EXECUTE FUNCTION qaflow_wake_worker()""")
    op.execute("""
        CREATE TRIGGER notification_queued AFTER INSERT ON notification FOR EACH ROW
        WHEN (NEW.status = 'pending')
        EXECUTE FUNCTION qaflow_wake_worker()""")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER notification_queued ON notification")
        op.execute("DROP TRIGGER instance_timer_earlier ON instance")
        op.execute("DROP TRIGGER instance_timer_set ON instance")
        op.execute("DROP FUNCTION qaflow_wake_worker()")
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_spec_created')
        batch_op.drop_index('ix_human_task_spec_due')
        batch_op.drop_index('ix_human_task_spec_completed')
    with op.batch_alter_table('instance', schema=None) as batch_op:
        batch_op.drop_index('ix_instance_process_started')
