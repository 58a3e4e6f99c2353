"""The Temporal worker that runs the case workflows and their activities, and its data converter."""
