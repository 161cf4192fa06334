"""The score sender: posts the outbox's Scores to the platforms, oldest first and one at a time
for each student and line item, retried with backoff while the LMS is down, each marked sent
only once the platform took it. It runs as a thread of the web process (which never forks)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
from typing import Any

import sqlalchemy as sa

from grader.serve import db
from grader.serve.lti import ags, client
from grader.serve.lti.platforms import LtiSettings, Platform
from grader.serve.lti.tokens import TokenRefused, Tokens, TokenUnusable

LEASE = dt.timedelta(seconds=60)  # a claimed score whose sender died is taken again after this
ROUND_SECONDS = 2.0  # between rounds: a grade reaches the LMS within about this
BATCH = 50  # scores claimed at once (the oldest of each student and line item)

log = logging.getLogger("grader.serve.lti")


class Sender:
    def __init__(self, engine: sa.Engine, settings: LtiSettings, tokens: Tokens,
                 titles: dict[int, tuple[str, str]]) -> None:
        """``titles``: assignment id -> (name, title), for the line items the tool makes."""
        self.engine = engine
        self.settings = settings
        self.tokens = tokens
        self.titles = titles
        self.name = f"{socket.gethostname()}:{os.getpid()}:lti"
        self.session = client.Session()
        self.outcomes: list[tuple[Any, dict[str, Any]]] = []  # (score, its row's new values)
        self.made: dict[int, str] = {}  # line items this sender made: id -> URL

    # ------------------------------------------------------------------------------ the loop

    def loop(self, stop: threading.Event) -> None:
        """Rounds every ROUND_SECONDS (the scores queued meanwhile go together: a class's
        gradings cost the web process two transactions a round, not two a score), at once
        after a full batch; an idle round only reads."""
        idle = True
        while not stop.is_set():
            try:
                sent = self.run_once(look_first=idle)
            except Exception:  # noqa: BLE001 - a bug here must not end the sending for good
                log.exception("LTI score sender")
                sent = 0
            idle = sent == 0
            if sent < BATCH:
                stop.wait(ROUND_SECONDS)

    def run_once(self, look_first: bool = True) -> int:
        """Send the scores that are due (``look_first``: after a read that finds any); how
        many were tried."""
        jobs = self._claim() if not look_first or self._due() else []
        down: dict[str, Exception] = {}  # a platform found down is not tried again this round
        try:
            for score, lineitem, context in jobs:
                if context.issuer in down:
                    self._failed(score, self.settings.find(context.issuer, context.client_id),
                                 down[context.issuer])
                else:
                    failure = self._send(score, lineitem, context)
                    if failure is not None:
                        down[context.issuer] = failure
        finally:
            self._record()
        return len(jobs)

    def _send(self, score: Any, lineitem: Any, context: Any) -> Exception | None:
        """Send one score; the failure when the platform is down (to try again later)."""
        platform = self.settings.find(context.issuer, context.client_id)
        try:
            if platform is None:
                raise Permanent(f"serve.toml no longer has the platform {context.issuer!r} "
                                f"(client {context.client_id!r}): add its [[lti.platform]] back")
            url = lineitem.url or self.made.get(lineitem.id) or \
                self._make_lineitem(platform, context, lineitem, score)
            self._post(platform, context, url, json.loads(score.body))
        except Permanent as exc:
            self._done(score, "failed", str(exc))
        except (client.Unreachable, client.Refused, TokenRefused, TokenUnusable) as exc:
            self._failed(score, platform, exc)
            if isinstance(exc, (client.Unreachable, TokenUnusable)) or (
                    isinstance(exc, client.Refused) and exc.retry and exc.status != 401):
                return exc
        else:
            self._done(score, "sent", "")
        return None

    def _due(self) -> bool:
        """Whether a score is due: a read, so that an idle sender never takes the write lock."""
        sc = db.lti_scores
        now = db.now()
        with db.transaction(self.engine) as c:
            return c.execute(sa.select(sc.c.id).where(
                sc.c.status == "pending", sc.c.next_try_at <= now,
                sa.or_(sc.c.claimed_until.is_(None), sc.c.claimed_until < now)).limit(1)
            ).first() is not None

    def _claim(self) -> list[tuple[Any, Any, Any]]:
        """Up to BATCH due scores, each the oldest unsent one of its student and line item
        (so that none overtakes an older one), held for LEASE."""
        sc, li, ctx = db.lti_scores, db.lti_lineitems, db.lti_contexts
        older = sc.alias("older")
        now = db.now()
        with db.transaction(self.engine, write=True) as c:
            rows = c.execute(
                sa.select(sc).where(
                    sc.c.status == "pending", sc.c.next_try_at <= now,
                    sa.or_(sc.c.claimed_until.is_(None), sc.c.claimed_until < now),
                    ~sa.exists().where(older.c.lineitem_id == sc.c.lineitem_id,
                                       older.c.account_id == sc.c.account_id,
                                       older.c.status == "pending", older.c.id < sc.c.id))
                .order_by(sc.c.next_try_at, sc.c.id).limit(BATCH)
                .with_for_update(skip_locked=True)).all()
            if not rows:
                return []
            c.execute(sc.update().where(sc.c.id.in_([r.id for r in rows])).values(
                claimed_by=self.name, claimed_until=now + LEASE))
            items = {r.id: r for r in c.execute(sa.select(li).where(
                li.c.id.in_({r.lineitem_id for r in rows})))}
            contexts = {r.id: r for r in c.execute(sa.select(ctx).where(
                ctx.c.id.in_({i.context_id for i in items.values()})))}
        return [(r, items[r.lineitem_id], contexts[items[r.lineitem_id].context_id])
                for r in rows]

    # --------------------------------------------------------------------- talking to the LMS

    def _make_lineitem(self, platform: Platform, context: Any, lineitem: Any, score: Any) -> str:
        """The line item of the assignment in the course, found (made by an earlier start) or
        made (AGS 2.0 §3.2), and kept."""
        if ags.LINEITEM_SCOPE not in context.ags_scopes.split() or not context.lineitems_url:
            raise Permanent(f"{platform.title} gave the tool no line item for this assignment and "
                            "no right to make one: enable the line item scope (Canvas: 'Can "
                            "create and view assignment data in the gradebook') or create the "
                            "assignment in the LMS with the tool as its submission")
        name, title = self.titles.get(lineitem.assignment_id, (str(lineitem.assignment_id), ""))
        token = self.tokens.get(platform, [ags.LINEITEM_SCOPE])
        sep = "&" if "?" in context.lineitems_url else "?"
        found = client.get_json(f"{context.lineitems_url}{sep}resource_id={name}", token=token,
                                accept="application/vnd.ims.lis.v2.lineitemcontainer+json").body
        url = next((x.get("id") for x in found or [] if isinstance(x, dict)
                    and x.get("resourceId") == name and x.get("id")), None)
        if url is None:
            body = {"scoreMaximum": json.loads(score.body)["scoreMaximum"] or 1,
                    "label": title or name, "resourceId": name, "tag": "grader"}
            if lineitem.resource_link_id:
                body["resourceLinkId"] = lineitem.resource_link_id
            made = client.post_json(context.lineitems_url, body, token=token,
                                    content_type=ags.LINEITEM_TYPE).body
            url = made.get("id") if isinstance(made, dict) else None
            if not url:
                raise Permanent(f"{platform.title} made a line item but gave no id for it")
        with db.transaction(self.engine) as c:
            c.execute(db.lti_lineitems.update().where(db.lti_lineitems.c.id == lineitem.id)
                      .values(url=str(url)))
        self.made[lineitem.id] = str(url)
        return str(url)

    def _post(self, platform: Platform, context: Any, lineitem_url: str, body: Any) -> None:
        if ags.SCORE_SCOPE not in context.ags_scopes.split():
            raise Permanent(f"{platform.title} did not grant the tool the score scope "
                            f"({ags.SCORE_SCOPE}): enable it where the tool is registered "
                            "(Canvas: 'Can create and update submission results'; Moodle: "
                            "'IMS LTI Assignment and Grade Services: use this service for grade "
                            "sync and column management'), then launch once more")
        token = self.tokens.get(platform, [ags.SCORE_SCOPE])
        base, _, query = lineitem_url.partition("?")
        url = base.rstrip("/") + "/scores" + (f"?{query}" if query else "")
        client.post_json(url, body, token=token, content_type=ags.SCORE_TYPE,
                         session=self.session)

    # ----------------------------------------------------------------------------- recording

    def _done(self, score: Any, status: str, error: str) -> None:
        if status == "failed" and not error:
            error = "failed for no reason given"
        if error:
            log.warning("LTI score %s for %s not sent: %s", score.id, score.sub, error)
        self.outcomes.append((score, {
            "status": status, "error": error[:2000], "tries": score.tries + 1,
            "sent_at": db.now() if status == "sent" else None,
            "next_try_at": db.aware(score.next_try_at)}))

    def _record(self) -> None:
        """The round's outcomes, in one transaction (a score whose outcome is lost with a
        killed process is sent again once its claim runs out, with the same timestamp)."""
        if not self.outcomes:
            return
        sc = db.lti_scores
        rows = [{"score_id": score.id, **values} for score, values in self.outcomes]
        with db.transaction(self.engine) as c:
            c.execute(sc.update().where(sc.c.id == sa.bindparam("score_id"),
                                        sc.c.claimed_by == self.name)
                      .values(status=sa.bindparam("status"), error=sa.bindparam("error"),
                              tries=sa.bindparam("tries"), sent_at=sa.bindparam("sent_at"),
                              next_try_at=sa.bindparam("next_try_at"), claimed_until=None),
                      rows)
        self.outcomes.clear()

    def _failed(self, score: Any, platform: Platform | None, exc: Exception) -> None:
        """Retried later, unless the platform refused it in a way retrying cannot mend."""
        if isinstance(exc, client.Refused) and not exc.retry:
            self._done(score, "failed", f"{platform.title if platform else 'the LMS'} "
                                        f"refused the score: {exc}")
            return
        if isinstance(exc, TokenRefused):
            self._done(score, "failed", str(exc))
            return
        if isinstance(exc, client.Refused) and exc.status == 401 and platform is not None:
            self.tokens.forget(platform)
        tries = score.tries + 1
        if tries >= self.settings.retry_attempts:
            self._done(score, "failed", f"given up after {tries} attempts; the last: {exc}")
            return
        wait = min(self.settings.retry_max_seconds,
                   self.settings.retry_seconds * 2 ** min(tries - 1, 30))
        log.warning("LTI score %s for %s: %s; trying again in %.0f s", score.id, score.sub, exc,
                    wait)
        self.outcomes.append((score, {"status": "pending", "error": str(exc)[:2000],
                                      "tries": tries, "sent_at": None,
                                      "next_try_at": db.now() + dt.timedelta(seconds=wait)}))


class Permanent(Exception):
    """A score that cannot be sent until someone changes a setting: it is marked failed, the
    instructor's page says why, and "send again" queues it once more."""
