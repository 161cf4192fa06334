"""The course's members from the LMS (Names and Role Provisioning Services 2.0): the instructor
syncs them instead of a roster file; each member gets an account linked to their LMS user, and
a member the LMS lists as inactive no longer receives grades there."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from grader.serve import db
from grader.serve.lti import accounts, client
from grader.serve.lti.launch import is_instructor
from grader.serve.lti.tokens import TokenRefused, Tokens

SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEDIA = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAX_PAGES = 200


def members(url: str, token: str) -> list[dict[str, Any]]:
    """Every member, following the pages' Link: rel="next" (NRPS 2.0 §2.4.2)."""
    out: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        reply = client.get_json(url, token=token, accept=MEDIA)
        body = reply.body if isinstance(reply.body, dict) else {}
        out += [m for m in body.get("members", []) if isinstance(m, dict) and m.get("user_id")]
        nxt = _next(reply.headers.get("link", ""))
        if not nxt:
            break
        url = nxt
    return out


def _next(link: str) -> str:
    for part in link.split(","):
        if 'rel="next"' in part and "<" in part:
            return part[part.index("<") + 1:part.index(">")]
    return ""


def sync(svc: Any, tokens: Tokens, context: int, instructor_id: int) -> str:
    """Bring the course's members into the service; what was done, in one line."""
    with db.transaction(svc.database) as c:
        row: Any = c.execute(sa.select(db.lti_contexts)
                             .where(db.lti_contexts.c.id == context)).first()
        mine = row is not None and c.execute(sa.select(db.lti_members.c.id).where(
            db.lti_members.c.context_id == context, db.lti_members.c.account_id == instructor_id,
            db.lti_members.c.role == "instructor")).first()
    if not mine:
        return "no such course of yours: launch the tool from it first"
    platform = svc.config.lti.find(row.issuer, row.client_id)
    if platform is None:
        return f"serve.toml has no [[lti.platform]] for {row.issuer!r} any more"
    if not row.memberships_url:
        return (f"{platform.title} gave this course no member list: enable Names and Role "
                "Provisioning where the tool is registered, then launch once more")
    try:
        listed = members(row.memberships_url, tokens.get(platform, [SCOPE]))
    except (client.Unreachable, client.Refused, TokenRefused) as exc:
        return f"could not read the members from {platform.title}: {exc}"
    added = left = 0
    with db.transaction(svc.database, write=True) as c:
        for m in listed:
            person = accounts.Person(str(m["user_id"]), str(m.get("email", "")),
                                     str(m.get("name", "")),
                                     tuple(str(m[k]) for k in ("lis_person_sourcedid",)
                                           if m.get(k)), is_instructor(m.get("roles")))
            account = accounts.ensure(c, row.issuer, person, svc.roster)
            if m.get("status", "Active") != "Active":
                c.execute(db.lti_members.delete().where(
                    db.lti_members.c.context_id == context,
                    db.lti_members.c.account_id == account.id))
                left += 1
                continue
            accounts.join(c, context, account.id, person.sub, account.role)
            added += 1
    return f"{added} member(s) of {row.title or 'the course'} synced from {platform.title}" + \
        (f"; {left} no longer active there" if left else "")
