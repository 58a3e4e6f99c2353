"""The read/command layer shared by the API, the page and the CLI: views, commands, access."""
