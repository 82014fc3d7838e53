"""Every Slack id the bot uses (command, action_id, callback_id, block_id) in one place."""

COMMAND = "/release"

# Notification kinds rendered by handlers.blocks.
DEPLOYMENT_STATUS = "deployment.status"
NOT_IN_CHANNEL_NOTE = "admin.not_in_channel"

BLOCK_REPLY = "reply"
