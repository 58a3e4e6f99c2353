"""What is left of the wiring: settings, logging, the embedded stack, health, serving every part."""
