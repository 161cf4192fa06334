"""The tool's keys and serve.toml's [lti] table, without a server: keys made once, readable by
the service's user only, rotated without a moment when a platform holds a JWKS that cannot check
what the tool signs; [lti]'s mistakes said in one line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

pytest.importorskip("joserfc", reason="LTI needs the 'serve' extra")

from grader.serve.config import ConfigError, read_config  # noqa: E402
from grader.serve.lti import keys  # noqa: E402

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)


def test_a_rotation_publishes_the_new_key_before_it_signs_and_the_old_one_after(
        tmp_path: Path) -> None:
    first = keys.add(tmp_path, T0)
    assert keys.ensure(tmp_path)[0].kid == first.kid  # made once, found again
    second = keys.add(tmp_path, T0 + 30 * 24 * HOUR)  # the rotation
    ks = keys.load(tmp_path)
    kids = lambda at: [k["kid"] for k in keys.jwks(ks, at)["keys"]]  # noqa: E731
    at = second.created + dt.timedelta(minutes=5)
    # Published at once, but the old key signs until platforms' caches have the new one.
    assert keys.signing(ks, at).kid == first.kid and kids(at) == [first.kid, second.kid]
    at = second.created + keys.AHEAD
    assert keys.signing(ks, at).kid == second.kid and kids(at) == [first.kid, second.kid]
    # Whatever the old key signed can be checked for KEEP after; then it goes.
    at = second.created + keys.AHEAD + keys.KEEP - HOUR
    assert kids(at) == [first.kid, second.kid]
    at = second.created + keys.AHEAD + keys.KEEP + HOUR
    assert kids(at) == [second.kid]
    assert keys.retire(tmp_path, at) == [first.kid]
    assert [k.kid for k in keys.load(tmp_path)] == [second.kid]


PLATFORM = """
[[assignment]]
name = "w1"
[lti]
{lti}
[[lti.platform]]
issuer = "https://canvas.instructure.com"
client_id = "1000"
jwks_url = "https://canvas.example/jwks"
auth_url = "https://canvas.example/auth"
token_url = "https://canvas.example/token"
{platform}
"""


@pytest.mark.parametrize("lti, platform, says", [
    ("", "", "deployment_ids must list"),
    ("colour = 1", 'deployment_ids = ["1"]', "unknown setting 'colour'"),
    ("retry_seconds = -1", 'deployment_ids = ["1"]', "retry_seconds must be"),
    ("url = 'ftp://x'", 'deployment_ids = ["1"]', "url 'ftp://x'"),
    ("", 'deployment_ids = [""]', "deployment_ids must list"),
])
def test_a_bad_lti_table_says_what_to_fix(tmp_path: Path, lti: str, platform: str,
                                          says: str) -> None:
    path = tmp_path / "serve.toml"
    path.write_text(PLATFORM.format(lti=lti, platform=platform))
    with pytest.raises(ConfigError) as info:
        read_config(path, ["toy"])
    assert says in str(info.value) and "\n" not in str(info.value)


def test_a_good_lti_table(tmp_path: Path) -> None:
    path = tmp_path / "serve.toml"
    path.write_text(PLATFORM.format(lti="url = 'https://grader.example.edu/'",
                                    platform='deployment_ids = ["1:abc"]'))
    lti = read_config(path, ["toy"]).lti
    assert lti.enabled and lti.url == "https://grader.example.edu"
    [p] = lti.platforms
    assert p.audience == "https://canvas.example/token" and p.deployment_ids == ("1:abc",)
    assert lti.find("https://canvas.instructure.com", None) is p
    assert lti.find("https://canvas.instructure.com", "other") is None
    assert lti.origins() == ["https://canvas.example", "https://canvas.instructure.com"]


def test_processes_starting_at_once_make_one_first_key(tmp_path: Path) -> None:
    """Several web processes (``--workers``) start at once on a state folder without keys: one
    key is made, and every process reads that one whole."""
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from grader.serve.lti import keys; "
            "print(','.join(k.kid for k in keys.ensure(Path(sys.argv[1]))))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True) for _ in range(6)]
    seen = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(seen) == 1 and "," not in seen.pop()
    assert len(list((tmp_path / "lti-keys").glob("*.json"))) == 1
