"""The ASGI application: the routes of the student's and the instructor's pages over one
``Service``, with signed, HttpOnly, SameSite=Strict session cookies."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from grader.serve import auth, instructor, student
from grader.serve.lti import frames as lti_frames
from grader.serve.lti import routes as lti
from grader.serve.service import Service

SESSION_SECONDS = 12 * 3600


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def make_app(svc: Service, *, secure_cookies: bool = False) -> Starlette:
    """The application; ``secure_cookies``: send the session cookie over HTTPS only (behind a
    TLS proxy)."""
    key = auth.secret_key(svc.state)
    get, both = ["GET"], ["GET", "POST"]
    routes = [
        Route("/", student.home, methods=get),
        Route("/healthz", healthz, methods=get),
        Route("/sign-in", student.sign_in, methods=both),
        Route("/sign-out", student.sign_out, methods=["POST"]),
        Route("/first-login/{login}/{token}", student.first_login, methods=both),
        Route("/assignments", student.assignments, methods=get),
        Route("/assignments/{name}", student.assignment, methods=get),
        Route("/assignments/{name}/submit", student.submit, methods=["POST"]),
        Route("/submissions/{sid}", student.submission, methods=get),
        Route("/submissions/{sid}/report", student.report, methods=get),
        Route("/submissions/{sid}/regrade-request", student.ask_regrade, methods=["POST"]),
        Route("/instructor", instructor.dashboard, methods=get),
        Route("/instructor/regrade", instructor.regrade, methods=["POST"]),
        Route("/instructor/extension", instructor.extension, methods=["POST"]),
        Route("/instructor/requests/{rid:int}", instructor.answer, methods=["POST"]),
        Route("/instructor/class/{name}/", instructor.class_file, methods=get),
        Route("/instructor/class/{name}/{path:path}", instructor.class_file, methods=get),
        *lti.routes(),
    ]
    # Inside an LMS's frame the session cookie is a third-party one: SameSite=None, and so
    # Secure (docs/lti.md).
    framed = svc.config.lti.enabled
    app = Starlette(routes=routes, lifespan=lti.lifespan, middleware=[
        *([Middleware(lti_frames.PlatformFrames, origins=svc.config.lti.origins())]
          if framed else []),
        Middleware(SessionMiddleware, secret_key=key.hex(), session_cookie="grader_session",
                   max_age=SESSION_SECONDS, same_site="none" if framed else "strict",
                   https_only=secure_cookies or framed)])
    app.state.service = svc
    app.state.key = key
    lti.setup(app, svc)
    return app
