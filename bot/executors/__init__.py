"""Stage executors: a local command, or a signed webhook to CI."""
