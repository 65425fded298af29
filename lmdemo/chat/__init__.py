"""The chat service: conversations on top of a ChatBackend, independent of any UI."""
