"""The `outreach` command: one module per command group."""
