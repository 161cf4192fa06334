"""The service's pages inside the LMS: its Content-Security-Policy lets the platforms frame them
(frame-ancestors) and receive the deep linking forms (form-action), and no one else."""

from __future__ import annotations

from typing import Any


class PlatformFrames:
    """ASGI middleware adding the platforms' origins to every page's CSP."""

    def __init__(self, app: Any, origins: list[str]) -> None:
        self.app = app
        extra = " ".join(origins)
        self.rewrites = [(b"frame-ancestors 'self'", f"frame-ancestors 'self' {extra}".encode()),
                         (b"form-action 'self'", f"form-action 'self' {extra}".encode())]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-security-policy":
                        for old, new in self.rewrites:
                            value = value.replace(old, new)
                    headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)
