"""Errors whose message is written for the person using the app (shown as-is in the UI)."""


class UserError(Exception):
    """Something the user can fix or should know about; its message is shown verbatim.

    `zh` is the same message in Chinese, shown instead when the browser asks for Chinese: services
    know nothing of the UI's language, so they say both and the UI picks."""

    def __init__(self, message: str, zh: str = "") -> None:
        super().__init__(message)
        self.zh = zh

    def said(self, chinese: bool) -> str:
        """The message in Chinese when asked for and written, else in English."""
        return self.zh if chinese and self.zh else str(self)


class ServerBusyError(UserError):
    """Every generation slot is taken; the user should retry shortly."""


class GpuUnavailableError(ServerBusyError):
    """No GPU for this request right now (a ZeroGPU quota or queue); the user should retry later."""
