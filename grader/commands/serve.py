"""``grader serve``: the submission service."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader.commands.common import Failure, course_option, friendly, load_course

DEFAULT_STATE = Path(".grader") / "serve"


@click.command("serve")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV of the class (a 'student' column; name, section, canvas_id, lms_id…): "
                   "one account each.")
@click.option("--config", "config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="serve.toml: assignments, deadlines, which submission counts, daily limits. "
                   "Default: one assignment of every topic, no deadline.")
@click.option("--state", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for uploads, results, class pages and the SQLite database "
                   "(default: .grader/serve in the course).")
@click.option("--database", metavar="URL", default=None,
              help="postgresql://user@host/db to keep accounts and the queue in PostgreSQL "
                   "(default: SQLite in --state).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Submissions graded at once (default: one per core).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Grade on a Dask cluster (tcp://host:8786); see docs/distributed.md.")
@click.option("--links", is_flag=True,
              help="Print the first-login link of every account without a password, and exit.")
@click.option("--base-url", default=None,
              help="The address students use, for the first-login links "
                   "(default: http://HOST:PORT).")
@click.option("--secure-cookies", is_flag=True,
              help="Send the session cookie over HTTPS only (behind a TLS proxy).")
@click.option("--rotate-lti-key", is_flag=True,
              help="Add a new LTI signing key (published at once, signing an hour later; the "
                   "old one stays published a week), and exit. See docs/lti.md.")
@click.option("--unsafe-no-sandbox", is_flag=True,
              help="Grade even where a sandbox layer is missing.")
@course_option
@friendly
def serve_command(roster: Path | None, config: Path | None, state: Path | None,
                  database: str | None, host: str, port: int, jobs: int | None,
                  scheduler: str | None, links: bool, base_url: str | None,
                  secure_cookies: bool, rotate_lti_key: bool, unsafe_no_sandbox: bool,
                  course: Path | None) -> None:
    """Run the submission service: students upload and read their feedback, the instructor
    follows the class live.

    Example: grader serve --roster roster.csv --config serve.toml --port 8000
    """
    try:
        from grader.serve import server
        from grader.serve.app import make_app
        from grader.serve.service import open_service
    except ImportError as exc:
        raise Failure(f"grader serve needs the 'serve' extra ({exc.name} is missing): "
                      "pip install 'dl-grader[serve]'") from None
    from grader.classroom.batch import cores

    c = load_course(course)
    if not c.has_reference:
        raise Failure(f"{c.root} has no reference/ folder: hidden tests are needed to grade")
    state = (state or c.root / DEFAULT_STATE).resolve()
    svc = open_service(c, config=config, roster=roster, state=state, database=database)
    if rotate_lti_key:
        from grader.serve.lti import keys

        keys.ensure(svc.state)
        made = keys.add(svc.state)
        click.echo(f"new LTI key {made.kid}: published now, signing from "
                   f"{made.created + keys.AHEAD:%Y-%m-%d %H:%M} UTC")
        return
    url = (base_url or f"http://{host}:{port}").rstrip("/")
    found = server.first_login_links(svc, url)
    if links:
        for login, role, link in found:
            click.echo(f"{login} ({role}): {link}")
        return
    path = server.write_links(svc, found)
    students = [x for x in found if x[1] == "student"]
    for login, role, link in found:
        if role == "instructor":
            click.echo(f"first login for {login}: {link}")
    if students:
        click.echo(f"{len(students)} student(s) have not signed in yet: their first-login "
                   f"links are in {path}")
    click.echo(f"state in {state}; database {svc.database.url.render_as_string()}")
    click.echo(f"serving {c.root.name} on {url} (Ctrl-C stops)")
    app = make_app(svc, secure_cookies=secure_cookies)
    cmd = server.dispatcher_command(svc, course=c.root, config=config, roster=roster,
                                    database=database, jobs=jobs or cores(),
                                    scheduler=scheduler, unsafe_no_sandbox=unsafe_no_sandbox)
    sys.exit(server.serve(app, host=host, port=port, dispatcher=cmd, echo=click.echo))
