"""Every Slack id the bot uses (command, action_id, callback_id, block_id) in one place."""

COMMAND = "/release"

# Notification kinds rendered by handlers.blocks.
DEPLOYMENT_STATUS = "deployment.status"
NOT_IN_CHANNEL_NOTE = "admin.not_in_channel"
LOCK_NOTICE = "lock.notice"  # to the affected channels
LOCK_DIRECT = "lock.direct"  # to the lock's owner
FREEZE_NOTICE = "freeze.notice"
INCIDENT_NOTICE = "incident.notice"  # to the service's channel

BLOCK_REPLY = "reply"

# Deployment cards and buttons.
DEPLOYMENT_OUTCOME = "deployment.outcome"
ACTION_APPROVE = "deployment_approve"
ACTION_REJECT = "deployment_reject"
BLOCK_DECISION = "deployment_decision"
VIEW_REJECT = "deployment_reject_reason"
BLOCK_REASON = "reason"
ACTION_REASON = "reason_input"

# Pipeline progress and rollback.
STAGE_OUTPUT = "stage.output"
ACTION_ROLLBACK = "deployment_rollback"
BLOCK_ROLLBACK = "deployment_rollback"
