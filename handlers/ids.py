"""Every Slack id the bot uses (command, action_id, callback_id, block_id) in one place."""

COMMAND = "/release"

# Notification kinds rendered by handlers.blocks.
DEPLOYMENT_STATUS = "deployment.status"
NOT_IN_CHANNEL_NOTE = "admin.not_in_channel"
LOCK_NOTICE = "lock.notice"  # to the affected channels
LOCK_DIRECT = "lock.direct"  # to the lock's owner
FREEZE_NOTICE = "freeze.notice"
INCIDENT_NOTICE = "incident.notice"  # to the service's channel
DIGEST = "digest.weekly"  # the weekly DORA digest (core.digest.KIND)

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

# Runbooks: the add/edit form, and the buttons that show one.
VIEW_RUNBOOK_FORM = "runbook_form"
VIEW_RUNBOOK = "runbook_view"
BLOCK_RUNBOOK_TITLE = "runbook_title"
ACTION_RUNBOOK_TITLE = "runbook_title_input"
BLOCK_RUNBOOK_CONTENT = "runbook_content"
ACTION_RUNBOOK_CONTENT = "runbook_content_input"
BLOCK_RUNBOOK_SERVICE = "runbook_service"
ACTION_RUNBOOK_SERVICE = "runbook_service_select"
BLOCK_RUNBOOK_ENVIRONMENT = "runbook_environment"
ACTION_RUNBOOK_ENVIRONMENT = "runbook_environment_select"
BLOCK_RUNBOOK_TAGS = "runbook_tags"
ACTION_RUNBOOK_TAGS = "runbook_tags_input"
ACTION_RUNBOOK_SHOW = "runbook_show"
BLOCK_RUNBOOKS = "runbooks"

# The deploy form (with its preview) and the create-release form.
VIEW_DEPLOY_FORM = "deploy_form"
VIEW_DEPLOY_PREVIEW = "deploy_preview"
VIEW_CREATE_FORM = "release_create_form"
VIEW_FORM_RESULT = "release_form_result"
BLOCK_FORM_SERVICE = "form_service"
ACTION_FORM_SERVICE = "form_service_select"  # external_select: block_suggestion answers with service names
BLOCK_FORM_VERSION = "form_version"  # the deploy form adds ":<service>": a new block when the service changes
ACTION_FORM_VERSION = "form_version_input"
BLOCK_FORM_ENVIRONMENT = "form_environment"
ACTION_FORM_ENVIRONMENT = "form_environment_select"
BLOCK_FORM_COMMIT = "form_commit"
ACTION_FORM_COMMIT = "form_commit_input"
BLOCK_FORM_NOTES = "form_notes"
ACTION_FORM_NOTES = "form_notes_input"
BLOCK_FORM_NOTE = "form_note"  # a line of help or status in a form (no input)
ACTION_DEPLOY_CONFIRM = "deploy_confirm"
BLOCK_DEPLOY_CONFIRM = "deploy_confirm"

# App Home, and the direct message that asks an approver (rendered from the store when sent).
HOME_VIEW = "releasebot_home"
APPROVAL_REQUEST = "approval.request"  # core.notify_prefs.APPROVAL_REQUEST_KIND
