"""The ASGI application: the routes of the student's and the instructor's pages over one
``Service``, their path parameters checked where they match (``paths``), and the session cookie
(a token of a server-side session: HttpOnly, SameSite=Strict)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from grader.serve import accounts, auth, instructor, paths, student
from grader.serve.lti import frames as lti_frames
from grader.serve.lti import routes as lti
from grader.serve.service import Service
from grader.serve.web import SessionCookies, not_routed

paths.register()


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def routes() -> list[BaseRoute]:
    """Every route of the service (the tests walk them all with hostile parameters)."""
    get, both = ["GET"], ["GET", "POST"]
    return [
        Route("/", student.home, methods=get),
        Route("/healthz", healthz, methods=get),
        Route("/sign-in", student.sign_in, methods=both),
        Route("/sign-out", student.sign_out, methods=["POST"]),
        Route("/first-login/{login:login}/{token:token}", student.first_login, methods=both),
        Route("/account/password", accounts.password, methods=both),
        Route("/assignments", student.assignments, methods=get),
        Route("/assignments/{name:name}", student.assignment, methods=get),
        Route("/assignments/{name:name}/submit", student.submit, methods=["POST"]),
        Route("/submissions/{sid:id}", student.submission, methods=get),
        Route("/submissions/{sid:id}/report", student.report, methods=get),
        Route("/submissions/{sid:id}/regrade-request", student.ask_regrade, methods=["POST"]),
        Route("/instructor", instructor.dashboard, methods=get),
        Route("/instructor/accounts", accounts.accounts, methods=both),
        Route("/instructor/regrade", instructor.regrade, methods=["POST"]),
        Route("/instructor/extension", instructor.extension, methods=["POST"]),
        Route("/instructor/requests/{rid:id}", instructor.answer, methods=["POST"]),
        Route("/instructor/class/{name:name}/", instructor.class_file, methods=get),
        Route("/instructor/class/{name:name}/{path:path}", instructor.class_file, methods=get),
        *lti.routes(),
    ]


def make_app(svc: Service, *, secure_cookies: bool = False, base_url: str | None = None
             ) -> Starlette:
    """The application; ``secure_cookies``: send the session cookie over HTTPS only (behind a
    TLS proxy); ``base_url``: the address students use, for the first-login links the
    instructor makes (default: the address a request came to)."""
    # Inside an LMS's frame the session cookie is a third-party one: SameSite=None, and so
    # Secure (docs/lti.md).
    framed = svc.config.lti.enabled
    app = Starlette(routes=routes(), lifespan=lti.lifespan, middleware=[
        *([Middleware(lti_frames.PlatformFrames, origins=svc.config.lti.origins())]
          if framed else []),
        Middleware(SessionCookies, secure=secure_cookies or framed, framed=framed)],
        exception_handlers={HTTPException: not_routed})
    app.state.service = svc
    app.state.key = auth.secret_key(svc.state)
    app.state.base_url = base_url
    lti.setup(app, svc)
    return app
