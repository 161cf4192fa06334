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
@click.option("--reset", metavar="LOGIN", default=None,
              help="Give LOGIN a new first-login link (their password and sessions end), print "
                   "it, and exit; the server need not be stopped.")
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
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Web processes serving the one address (sessions, forms and limits hold "
                   "across them).")
@click.option("--web-only", is_flag=True,
              help="Serve the pages, with no dispatcher here: dispatchers run with "
                   "--dispatcher-only, on this machine or others (PostgreSQL only).")
@click.option("--dispatcher-only", is_flag=True,
              help="Run a dispatcher in the foreground, with no web process: on another machine "
                   "sharing the state folder and the database, say (PostgreSQL only).")
@course_option
@friendly
def serve_command(roster: Path | None, config: Path | None, state: Path | None,
                  database: str | None, host: str, port: int, jobs: int | None,
                  scheduler: str | None, links: bool, reset: str | None, base_url: str | None,
                  secure_cookies: bool, rotate_lti_key: bool, unsafe_no_sandbox: bool,
                  workers: int, web_only: bool, dispatcher_only: bool,
                  course: Path | None) -> None:
    """Run the submission service: students upload and read their feedback, the instructor
    follows the class live.

    Example: grader serve --roster roster.csv --config serve.toml --port 8000
    A forgotten password: grader serve --reset ada (a new first-login link for ada)

    On several machines (PostgreSQL, one state folder shared by all of them):
    grader serve --web-only --workers 4 --database postgresql://… on one,
    grader serve --dispatcher-only --database postgresql://… on each of the others.
    """
    try:
        from grader.serve import links as links_file
        from grader.serve import server
        from grader.serve.accounts import reset as reset_account
        from grader.serve.service import open_service
    except ImportError as exc:
        raise Failure(f"grader serve needs the 'serve' extra ({exc.name} is missing): "
                      "pip install 'dl-grader[serve]'") from None
    from grader.classroom.batch import cores

    _check_modes(database, workers=workers, web_only=web_only, dispatcher_only=dispatcher_only)
    c = load_course(course)
    if not c.has_reference:
        raise Failure(f"{c.root} has no reference/ folder: hidden tests are needed to grade")
    state = (state or c.root / DEFAULT_STATE).resolve()
    if dispatcher_only and not links and reset is None and not rotate_lti_key:
        from grader.serve import dispatcher

        state.mkdir(parents=True, exist_ok=True)
        cmd = server.dispatcher_command(
            state=state, course=c.root, config=config, roster=roster, database=database,
            jobs=jobs or cores(), scheduler=scheduler, unsafe_no_sandbox=unsafe_no_sandbox,
            parent=False)
        sys.exit(dispatcher.main(cmd[3:]))
    # A reset changes one account, and --links without a roster prints the accounts: both leave
    # the accounts as they are (serve.toml's instructors included).
    svc = open_service(c, config=config, roster=roster, state=state, database=database,
                       sync_accounts=reset is None and not rotate_lti_key
                       and not (links and roster is None))
    if rotate_lti_key:
        from grader.serve.lti import keys

        keys.ensure(svc.state)
        made = keys.add(svc.state)
        click.echo(f"new LTI key {made.kid}: published now, signing from "
                   f"{made.created + keys.AHEAD:%Y-%m-%d %H:%M} UTC")
        return
    url = (base_url or f"http://{host}:{port}").rstrip("/")
    if reset is not None:
        link = reset_account(svc, reset, url)
        click.echo(f"{reset}: {link}")
        click.echo(f"{reset}'s password and sessions have ended; {state / links_file.LINKS} "
                   "lists the new link")
        return
    found = links_file.first_login_links(svc, url)
    if links:
        for login, role, link in found:
            click.echo(f"{login} ({role}): {link}")
        return
    path = links_file.write_links(svc, found)
    students = [x for x in found if x[1] == "student"]
    for login, role, link in found:
        if role == "instructor":
            click.echo(f"first login for {login}: {link}")
    if students:
        click.echo(f"{len(students)} student(s) have not signed in yet: their first-login "
                   f"links are in {path}")
    click.echo(f"state in {state}; database {svc.database.url.render_as_string()}")
    click.echo(f"serving {c.root.name} on {url} with {workers} web process(es)"
               + (", no dispatcher here (grader serve --dispatcher-only grades)" if web_only
                  else "") + " (Ctrl-C stops)")
    web = server.Web(str(c.root), str(config) if config else None,
                     str(roster) if roster else None, str(state), database, secure_cookies, url)
    beside = None if web_only else server.dispatcher_command(
        state=state, course=c.root, config=config, roster=roster, database=database,
        jobs=jobs or cores(), scheduler=scheduler, unsafe_no_sandbox=unsafe_no_sandbox)
    sys.exit(server.serve(web, svc, host=host, port=port, workers=workers, dispatcher=beside,
                          echo=click.echo))


def _check_modes(database: str | None, *, workers: int, web_only: bool,
                 dispatcher_only: bool) -> None:
    """What SQLite allows: several web processes of one command (--workers; WAL lets them read
    and write beside the one dispatcher), never a second dispatcher or a web process without
    its own."""
    if web_only and dispatcher_only:
        raise Failure("--web-only and --dispatcher-only exclude each other: give one of them, "
                      "or neither for both in one command")
    if dispatcher_only and workers > 1:
        raise Failure("--workers counts web processes, and --dispatcher-only runs none: start "
                      "the command again for another dispatcher")
    sqlite = database is None or database.startswith("sqlite")
    if sqlite and dispatcher_only:
        raise Failure("--dispatcher-only needs PostgreSQL (--database postgresql://…): SQLite's "
                      "queue has one dispatcher, the one grader serve starts beside its web "
                      "processes (it holds dispatcher.lock in the state folder)")
    if sqlite and web_only:
        raise Failure("--web-only needs PostgreSQL (--database postgresql://…): with SQLite the "
                      "one dispatcher runs beside the web processes of one grader serve on one "
                      "machine; for more web processes there, give --workers N")

