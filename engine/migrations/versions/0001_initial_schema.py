"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 02:54:37.020873
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('child_ref', sa.String(length=100), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_child_ref'), ['child_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_instance_id'), ['instance_id'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(
        sa.table('audit_head', sa.column('id', sa.Integer), sa.column('last_id', sa.Integer),
                 sa.column('last_hash', sa.String)),
        [{'id': 1, 'last_id': 0, 'last_hash': '0' * 64}],
    )
    op.create_table('definition_file',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )
    op.create_table('process_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('deployed_by', sa.String(length=100), nullable=False),
    sa.Column('deployed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('process_id', 'version')
    )
    with op.batch_alter_table('process_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_version_digest'), ['digest'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_version_process_id'), ['process_id'], unique=False)

    op.create_table('service_area',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('head_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['head_id'], ['person.id'], use_alter=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('process_version_file',
    sa.Column('process_version_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['process_version_id'], ['process_version.id'], ),
    sa.ForeignKeyConstraint(['sha256'], ['definition_file.sha256'], ),
    sa.PrimaryKeyConstraint('process_version_id', 'name')
    )
    op.create_table('team',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('service_area_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['service_area_id'], ['service_area.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('instance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process_version_id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('next_timer_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('child_ref', sa.String(length=100), nullable=False),
    sa.Column('child_status', sa.String(length=10), nullable=False),
    sa.Column('audit_type', sa.String(length=20), nullable=False),
    sa.Column('grade', sa.String(length=40), nullable=True),
    sa.Column('service_area_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('started_by', sa.String(length=100), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['process_version_id'], ['process_version.id'], ),
    sa.ForeignKeyConstraint(['service_area_id'], ['service_area.id'], ),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('instance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instance_child_ref'), ['child_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_instance_process_version_id'), ['process_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_instance_service_area_id'), ['service_area_id'], unique=False)
        batch_op.create_index('ix_instance_status_next_timer', ['status', 'next_timer_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_instance_team_id'), ['team_id'], unique=False)

    op.create_table('person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=False),
    sa.Column('job_title', sa.String(length=200), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('manager_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['manager_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('human_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('task_uuid', sa.String(length=36), nullable=False),
    sa.Column('spec_name', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('process_id', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=100), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('group_role', sa.String(length=100), nullable=True),
    sa.Column('claimed_by_id', sa.Integer(), nullable=True),
    sa.Column('form_file', sa.String(length=300), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_by_id', sa.Integer(), nullable=True),
    sa.Column('draft', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['claimed_by_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['completed_by_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['instance_id'], ['instance.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('task_uuid')
    )
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.create_index('ix_human_task_assignee_open', ['assignee_id', 'status', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_task_claimed_by_id'), ['claimed_by_id'], unique=False)
        batch_op.create_index('ix_human_task_group_open', ['group_role', 'status', 'due_at'], unique=False)
        batch_op.create_index('ix_human_task_instance_status', ['instance_id', 'status'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('recipient_id', sa.Integer(), nullable=True),
    sa.Column('email', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['recipient_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id')
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_notification_pending', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_recipient_id'), ['recipient_id'], unique=False)

    op.create_table('participant',
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=100), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['instance.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('instance_id', 'role')
    )
    with op.batch_alter_table('participant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_participant_person_id'), ['person_id'], unique=False)

    op.create_table('person_role',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('person_id', 'role')
    )
    with op.batch_alter_table('person_role', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_role_role'), ['role'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('person_role', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_role_role'))

    op.drop_table('person_role')
    with op.batch_alter_table('participant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_participant_person_id'))

    op.drop_table('participant')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_recipient_id'))
        batch_op.drop_index('ix_notification_pending')
        batch_op.drop_index(batch_op.f('ix_notification_instance_id'))

    op.drop_table('notification')
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_instance_status')
        batch_op.drop_index('ix_human_task_group_open')
        batch_op.drop_index(batch_op.f('ix_human_task_claimed_by_id'))
        batch_op.drop_index('ix_human_task_assignee_open')

    op.drop_table('human_task')
    op.drop_table('person')
    with op.batch_alter_table('instance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_instance_team_id'))
        batch_op.drop_index('ix_instance_status_next_timer')
        batch_op.drop_index(batch_op.f('ix_instance_service_area_id'))
        batch_op.drop_index(batch_op.f('ix_instance_process_version_id'))
        batch_op.drop_index(batch_op.f('ix_instance_child_ref'))

    op.drop_table('instance')
    op.drop_table('team')
    op.drop_table('process_version_file')
    op.drop_table('service_area')
    with op.batch_alter_table('process_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_version_process_id'))
        batch_op.drop_index(batch_op.f('ix_process_version_digest'))

    op.drop_table('process_version')
    op.drop_table('definition_file')
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_instance_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_child_ref'))

    op.drop_table('audit_event')
