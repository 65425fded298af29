"""Errors whose message is written for the person using the app (shown as-is in the UI)."""


class UserError(Exception):
    """Something the user can fix or should know about; its message is shown verbatim."""


class ServerBusyError(UserError):
    """Every generation slot is taken; the user should retry shortly."""


class GpuUnavailableError(ServerBusyError):
    """No GPU for this request right now (a ZeroGPU quota or queue); the user should retry later."""
