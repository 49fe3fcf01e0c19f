"""Background jobs: approving many pairs, closing a large cohort and loading a large roster
answer at once with 202, and the job worker (Lambda's Invoke, answered in this process by
infra/local/worker.py) does the work in steps that are safe to repeat."""
from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from unittest import mock
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from app import app
from chalicelib.adapters.models import Application, Claim, Cohort, Job, Member, OutboxMail, Pairing
from chalicelib.adapters.store import open_cohort
from chalicelib.domain import clock
from chalicelib.services import jobs, membership, pairings, proposals, retention
from infra.local import worker
from infra.local.seed import seed_demo_cohort
from tests.helpers import csrf_of

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
RECORD_KEYS = {"id", "kind", "state", "done", "total", "errors", "result"}


def proposed_pairs() -> list[dict]:
    return [{"mentor_id": p["mentor_id"], "mentee_id": p["mentee_id"]}
            for p in proposals.propose(open_cohort(), {}).proposal["pairs"]]


@pytest.fixture
def many_pairs(aws):
    """A cohort of 40 mentees and 20 mentors, and the engine's pairs: more than a request approves."""
    seed_demo_cohort(mentees=40, mentors=20, capacity=2)
    pairs = proposed_pairs()
    assert len(pairs) > pairings.INLINE_PAIRS
    return pairs


@pytest.fixture
def job_pairs(aws, monkeypatch):
    """The demo cohort's first 12 pairs, approved by a job of steps of 5: the path many pairs
    take, at a size each test can afford (moto makes each approval slow)."""
    monkeypatch.setattr(pairings, "INLINE_PAIRS", 4)
    monkeypatch.setattr(pairings, "APPROVAL_STEP", 5)
    seed_demo_cohort()
    return proposed_pairs()[:12]


@pytest.fixture
def deferred():
    """Invocations wait until the test runs them: what the request does alone can be seen."""
    runner = worker.Deferred()
    installed = worker.install(app, runner)
    yield runner
    worker.uninstall(installed)


def post(client, cookie, path, document=None):
    body = json.dumps(document).encode() if document is not None else b""
    return client.http.post(path, headers={**JSON, "Cookie": cookie}, body=body)


def job_of(client, cookie, answer) -> dict:
    assert answer.status_code == 202, answer.body
    found = client.http.get(answer.headers["Location"], headers={"Cookie": cookie})
    assert found.status_code == 200
    return found.json_body


def introductions() -> list:
    return [mail for mail in OutboxMail.scan() if mail.template == "introduction"]


def assert_paired_once(pairs) -> None:
    """Each pair is one live pairing, introduced by one mail; nothing else was made."""
    made = list(Pairing.scan())
    assert sorted((p.mentor_id, p.mentee_id) for p in made) == sorted((p["mentor_id"], p["mentee_id"]) for p in pairs)
    assert len(introductions()) == len(pairs)
    assert len([c for c in Claim.scan() if c.key.startswith("live-mentee#")]) == len(pairs)


# Approving many pairs.

def test_approving_many_pairs_answers_202_at_once_and_the_worker_approves_them(client, committee_cookie, many_pairs,
                                                                              deferred):
    answer = post(client, committee_cookie, "/admin/api/pairings", {"pairs": many_pairs})
    assert answer.status_code == 202 and answer.json_body["url"] == answer.headers["Location"]
    assert re.fullmatch(r"/admin/api/jobs/[0-9a-f]{32}", answer.headers["Location"])
    queued = job_of(client, committee_cookie, answer)
    assert set(queued) == RECORD_KEYS
    assert queued["kind"] == "approve_pairs" and queued["state"] == "queued"
    assert (queued["done"], queued["total"], queued["errors"]) == (0, len(many_pairs), [])
    assert list(Pairing.scan()) == [] and introductions() == []  # the request did none of the work
    recorded = Job.get(queued["id"])
    assert abs(recorded.expires_at - recorded.created_at - jobs.KEEP_FOR) < timedelta(seconds=1)  # even if it never ends
    assert deferred.run_all() == 1
    done = job_of(client, committee_cookie, answer)
    assert done["state"] == "done" and done["done"] == done["total"] == len(many_pairs) and done["errors"] == []
    assert done["result"] == {"paired": len(many_pairs)}
    assert_paired_once(many_pairs)


def test_a_small_approval_is_still_done_within_the_request(client, committee_cookie, aws, deferred):
    seed_demo_cohort()
    pairs = proposed_pairs()[:12]
    assert len(pairs) <= pairings.INLINE_PAIRS
    answer = post(client, committee_cookie, "/admin/api/pairings", {"pairs": pairs})
    assert answer.status_code == 201 and len(answer.json_body["pairings"]) == len(pairs)
    assert deferred.waiting == [] and list(Job.scan()) == []


def test_a_failure_halfway_stops_the_job_and_running_it_again_pairs_nobody_twice(client, committee_cookie,
                                                                                 job_pairs):
    create, calls = pairings._create, []

    def failing_on_the_eighth(*args):
        calls.append(1)
        if len(calls) == 8:
            raise RuntimeError("injected: DynamoDB went away")
        return create(*args)

    with mock.patch.object(pairings, "_create", failing_on_the_eighth):
        answer = post(client, committee_cookie, "/admin/api/pairings", {"pairs": job_pairs})
    stopped = job_of(client, committee_cookie, answer)
    # The first step of 5 was checkpointed; the second stopped on its third pair.
    assert stopped["state"] == "failed" and stopped["done"] == 5
    assert "Run it again" in stopped["errors"][-1] and "RuntimeError" in stopped["errors"][-1]
    assert len(list(Pairing.scan())) == 7 and len(introductions()) == 7

    again = post(client, committee_cookie, f"{answer.headers['Location']}/run")
    finished = job_of(client, committee_cookie, again)
    assert finished["state"] == "done" and finished["result"] == {"paired": len(job_pairs)}
    assert_paired_once(job_pairs)
    assert post(client, committee_cookie, f"{answer.headers['Location']}/run").status_code == 409  # done is done


def test_a_step_whose_writes_landed_but_not_its_checkpoint_is_repeated_harmlessly(client, committee_cookie,
                                                                                  job_pairs, fresh_clock):
    checkpoint, calls = jobs._checkpoint, []

    def lost_on_the_second(*args):
        calls.append(1)
        if len(calls) == 2:
            raise TimeoutError("injected: the invocation ended before the cursor was written")
        return checkpoint(*args)

    with mock.patch.object(jobs, "_checkpoint", lost_on_the_second):
        answer = post(client, committee_cookie, "/admin/api/pairings", {"pairs": job_pairs})
    assert len(list(Pairing.scan())) == 10  # two steps' pairings were made, yet the cursor says 5
    running = job_of(client, committee_cookie, answer)
    assert running["state"] == "running" and running["done"] == 5
    assert post(client, committee_cookie, f"{answer.headers['Location']}/run").status_code == 409  # still leased

    fresh_clock.shift_by(jobs.LEASE + jobs.STALLED_AFTER)  # no worker holds it any more
    stalled = job_of(client, committee_cookie, answer)
    assert stalled["state"] == "failed" and stalled["errors"][-1] == jobs.STOPPED
    finished = job_of(client, committee_cookie, post(client, committee_cookie, f"{answer.headers['Location']}/run"))
    assert finished["state"] == "done" and finished["result"] == {"paired": len(job_pairs)}
    assert_paired_once(job_pairs)


def test_approving_the_same_pairs_twice_makes_one_pairing_and_one_introduction_each(client, committee_cookie,
                                                                                     job_pairs):
    first = job_of(client, committee_cookie, post(client, committee_cookie, "/admin/api/pairings", {"pairs": job_pairs}))
    second = job_of(client, committee_cookie, post(client, committee_cookie, "/admin/api/pairings", {"pairs": job_pairs}))
    assert first["id"] != second["id"]
    assert first["result"] == second["result"] == {"paired": len(job_pairs)} and second["errors"] == []
    assert_paired_once(job_pairs)


def test_a_job_approves_the_pairs_it_can_and_lists_the_others(client, committee_cookie, job_pairs):
    taken = job_pairs[0]
    other_mentor = next(p["mentor_id"] for p in job_pairs if p["mentor_id"] != taken["mentor_id"])
    pairs = [*job_pairs, {"mentor_id": other_mentor, "mentee_id": taken["mentee_id"]},
             {"mentor_id": "f" * 32, "mentee_id": job_pairs[1]["mentee_id"]}]
    done = job_of(client, committee_cookie, post(client, committee_cookie, "/admin/api/pairings", {"pairs": pairs}))
    assert done["state"] == "done" and done["done"] == len(pairs) and done["result"] == {"paired": len(job_pairs)}
    assert len(done["errors"]) == 2
    assert "already in a live pairing" in done["errors"][0] and "No such mentor" in done["errors"][1]
    assert_paired_once(job_pairs)


def test_a_worker_short_of_time_hands_the_job_to_a_fresh_invocation(client, committee_cookie, job_pairs):
    hurried = worker.install(app, worker.RunNow(), timeout_seconds=int(jobs.HAND_OVER.total_seconds()) - 1)
    try:
        answer = post(client, committee_cookie, "/admin/api/pairings", {"pairs": job_pairs})
    finally:
        worker.uninstall(hurried)
    steps = -(-len(job_pairs) // pairings.APPROVAL_STEP)
    assert len(hurried.invocations) == steps  # one step each, each handing on to the next
    assert job_of(client, committee_cookie, answer)["state"] == "done"
    assert_paired_once(job_pairs)


def test_a_worker_that_cannot_be_started_leaves_the_job_failed_and_it_can_be_run_again(client, committee_cookie,
                                                                                       job_pairs):
    from chalicelib.adapters import job_worker

    with mock.patch.object(job_worker, "start", side_effect=RuntimeError("injected: Lambda throttled")):
        answer = post(client, committee_cookie, "/admin/api/pairings", {"pairs": job_pairs})
    assert answer.status_code == 202 and answer.json_body["state"] == "failed"
    assert "could not be started" in answer.json_body["errors"][0] and list(Pairing.scan()) == []
    finished = job_of(client, committee_cookie, post(client, committee_cookie, f"{answer.headers['Location']}/run"))
    assert finished["state"] == "done"
    assert_paired_once(job_pairs)


def test_a_job_another_worker_holds_is_not_stepped_twice(aws, job_pairs, deferred):
    job = pairings.approve_or_start("committee@example.org", [pairings.PairRequest(**p) for p in job_pairs])
    held = jobs._claim(job.id)
    assert held is not None and jobs.run(job.id, {}, lambda: timedelta(minutes=5)) == "not taken"
    assert list(Pairing.scan()) == []


def test_too_many_pairs_or_forged_ids_are_refused_before_any_job(client, committee_cookie, aws):
    too_many = [{"mentor_id": f"{n:032x}", "mentee_id": f"{n + 1:032x}"} for n in range(pairings.MAX_PAIRS + 1)]
    answer = post(client, committee_cookie, "/admin/api/pairings", {"pairs": too_many})
    assert answer.status_code == 413 and "at most" in answer.json_body["errors"]["pairs"]
    forged = post(client, committee_cookie, "/admin/api/pairings", {"pairs": [{"mentor_id": "x" * 500, "mentee_id": "y"}]})
    assert forged.status_code == 400
    assert list(Job.scan()) == []


def test_the_job_api_answers_404_for_no_such_job_and_401_without_a_session(client, committee_cookie):
    assert client.http.get(f"/admin/api/jobs/{'0' * 32}", headers={"Cookie": committee_cookie}).status_code == 404
    assert client.http.get(f"/admin/api/jobs/{'0' * 32}").status_code == 401
    assert post(client, committee_cookie, f"/admin/api/jobs/{'0' * 32}/run").status_code == 404


# The pages.

def test_the_matching_page_approves_many_pairs_through_a_job_page_that_shows_progress(client, committee_cookie,
                                                                                      job_pairs, deferred):
    token = csrf_of(client, committee_cookie)
    body = "&".join([f"csrf_token={token}", "revision=0"] + [f"pair={p['mentor_id']}:{p['mentee_id']}" for p in job_pairs]).encode()
    reviewed = client.http.post("/admin/matching/review", headers={**FORM, "Cookie": committee_cookie}, body=body)
    assert reviewed.status_code == 200 and reviewed.body.decode().count('name="pair"') == len(job_pairs)
    answer = client.http.post("/admin/matching/approve", headers={**FORM, "Cookie": committee_cookie}, body=body)
    assert answer.status_code == 303 and re.fullmatch(r"/admin/jobs/[0-9a-f]{32}", answer.headers["Location"])
    waiting = client.http.get(answer.headers["Location"], headers={"Cookie": committee_cookie}).body.decode()
    assert 'http-equiv="refresh"' in waiting and f"0 of {len(job_pairs)} done" in waiting and "<progress" in waiting
    deferred.run_all()
    done = client.http.get(answer.headers["Location"], headers={"Cookie": committee_cookie}).body.decode()
    assert f"{len(job_pairs)} pairings approved" in done and 'http-equiv="refresh"' not in done
    assert 'href="/admin/pairings"' in done


def test_a_stopped_job_page_offers_to_run_it_again(client, committee_cookie, job_pairs):
    with mock.patch.object(pairings, "_create", side_effect=RuntimeError("injected")):
        answer = post(client, committee_cookie, "/admin/api/pairings", {"pairs": job_pairs})
    job_id = answer.headers["Location"].rsplit("/", 1)[1]
    page = client.http.get(f"/admin/jobs/{job_id}", headers={"Cookie": committee_cookie}).body.decode()
    assert "The work stopped after 0 of" in page and f'action="/admin/jobs/{job_id}/run"' in page
    token = csrf_of(client, committee_cookie)
    forged = client.http.post(f"/admin/jobs/{job_id}/run", headers={**FORM, "Cookie": committee_cookie},
                              body=b"csrf_token=" + b"0" * len(token))
    assert forged.status_code == 403
    rerun = client.http.post(f"/admin/jobs/{job_id}/run", headers={**FORM, "Cookie": committee_cookie},
                             body=f"csrf_token={token}".encode())
    assert rerun.status_code == 303 and rerun.headers["Location"] == f"/admin/jobs/{job_id}"
    assert_paired_once(job_pairs)


# Closing a large cohort.

@pytest.fixture
def large_cohort(aws):
    seed_demo_cohort(mentees=45, mentors=25, capacity=2)
    assert sum(1 for _ in Application.scan()) > retention.INLINE_CLOSE
    return open_cohort()


def test_closing_a_large_cohort_runs_as_a_job_and_stops_and_goes_on_safely(client, committee_cookie, large_cohort):
    from pynamodb.exceptions import UpdateError

    update, calls = Application.update, []

    def failing_on_the_fortieth(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 40:
            raise UpdateError("injected: the close is cut short")
        return update(self, *args, **kwargs)

    url = f"/admin/api/cohorts/{large_cohort.id}/close"
    with mock.patch.object(Application, "update", failing_on_the_fortieth):
        stopped = job_of(client, committee_cookie, post(client, committee_cookie, url))
    assert stopped["kind"] == "close_cohort" and stopped["state"] == "failed"
    assert open_cohort().id == large_cohort.id  # the cohort closes last
    assert 0 < sum(1 for a in Application.scan() if a.expires_at) < stopped["total"]

    done = job_of(client, committee_cookie, post(client, committee_cookie, f"/admin/api/jobs/{stopped['id']}/run"))
    assert done["state"] == "done" and done["done"] == done["total"] == 70
    assert "personal_data_deleted_on" in done["result"] and open_cohort() is None
    expiries = {int(a.expires_at.timestamp()) for a in Application.scan()}
    assert len(expiries) == 1  # one retention date for the whole cohort, however many runs it took
    page = client.http.get(f"/admin/jobs/{done['id']}", headers={"Cookie": committee_cookie}).body.decode()
    assert "The cohort is closed. Its personal data will be deleted on" in page
    assert post(client, committee_cookie, url).status_code == 409  # closed already


# Loading a large roster.

def roster_csv(members: int, name_length: int = 150) -> bytes:
    lines = ["membership_id,email,name,expires"]
    lines += [f"KLA-{n:06d},member{n}@example.org,{('Member ' + str(n)).ljust(name_length, 'x')},2099-12-31"
              for n in range(members)]
    return ("\n".join(lines) + "\n").encode()


def upload_through_s3(client, cookie, body: bytes):
    """What the browser does with the roster page's form: post the file to S3, follow S3's redirect."""
    import requests

    page = client.http.get("/admin/roster", headers={"Cookie": cookie})
    html = page.body.decode()
    action = re.search(r'<form method="post" action="([^"]+)" enctype="multipart/form-data">', html).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))
    assert "key" in fields and "policy" in fields and "form-action 'self' " in page.headers["Content-Security-Policy"]
    uploaded = requests.post(action, data=fields, files={"file": ("members.csv", body, "text/csv")},
                             allow_redirects=False, timeout=60)
    assert uploaded.status_code == 303, uploaded.text
    landing = re.sub(r"^https?://[^/]+", "", uploaded.headers["Location"])
    assert landing.startswith("/admin/roster/uploaded?") and fields["key"] in requests.utils.unquote(landing)
    preview = client.http.get(same_site(client, landing), headers={"Cookie": cookie, "Sec-Fetch-Site": "same-origin"})
    assert preview.status_code == 200 and b"Nothing is replaced yet" in preview.body, preview.body[:2000]
    return confirm_upload(client, cookie, fields["key"]), fields["key"]


def confirm_upload(client, cookie, key: str):
    """The roster page's confirmation of an uploaded file: it starts the job that loads it."""
    boundary = "----formboundaryJobs"
    parts = {"csrf_token": csrf_of(client, cookie), "confirm": "yes", "key": key}
    body = "".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                   for name, value in parts.items()) + f"--{boundary}--\r\n"
    return client.http.post("/admin/roster", body=body.encode(), headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Cookie": cookie, "Sec-Fetch-Site": "same-origin"})


def same_site(client, landing: str) -> str:
    """S3's redirect is a navigation from another site: a browser sends it without the SameSite=Strict
    cookie, and with Sec-Fetch-Site: cross-site. The app answers a page that opens the same address
    from its own site, and does nothing else; returns that address."""
    jobs_before = sorted(job.id for job in Job.scan())
    arrived = client.http.get(landing, headers={"Sec-Fetch-Site": "cross-site"})
    assert arrived.status_code == 200 and arrived.headers["X-Frame-Options"] == "DENY"
    assert sorted(job.id for job in Job.scan()) == jobs_before, "a cross-site request starts nothing"
    target = html.unescape(re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)">',
                                     arrived.body.decode()).group(1))
    assert urlsplit(target).path == urlsplit(landing).path and not urlsplit(target).netloc
    assert parse_qs(urlsplit(target).query) == parse_qs(urlsplit(landing).query)
    return target


def test_a_ten_megabyte_roster_goes_straight_to_s3_and_a_job_loads_it(client, committee_cookie, aws):
    from chalicelib.adapters import uploads
    from tests.helpers import apply_as

    waiting = apply_as("mentee", membership_id="KLA-000007", email="member7@example.org")
    body = roster_csv(45_000, name_length=195)  # names as long as a roster may have them: fewer rows to write
    assert len(body) > 10 * 1024 * 1024
    answer, key = upload_through_s3(client, committee_cookie, body)
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/admin/jobs/")
    job_id = answer.headers["Location"].rsplit("/", 1)[1]
    done = client.http.get(f"/admin/api/jobs/{job_id}", headers={"Cookie": committee_cookie}).json_body
    assert done["state"] == "done" and done["done"] == done["total"] == 45_000, done
    assert done["result"] == {"members": 45_000, "newly_eligible": 1}
    assert Application.get(waiting.id).status == "eligible"
    assert membership.on_roster("KLA-044999", "member44999@example.org")
    assert uploads.size(key) is None  # the members' details are kept in the roster only
    page = client.http.get(f"/admin/jobs/{job_id}", headers={"Cookie": committee_cookie}).body.decode()
    assert "Loaded 45000 members. 1 waiting applications are now eligible." in page
    # Confirming again (a second click, a reload) starts nothing new.
    again = confirm_upload(client, committee_cookie, key)
    assert again.status_code == 303 and again.headers["Location"] == f"/admin/jobs/{job_id}"
    assert [job.id for job in Job.scan()] == [job_id]


def test_a_large_roster_with_bad_lines_is_refused_whole_and_the_old_one_stays(client, committee_cookie, aws):
    client.http.put("/admin/api/roster", headers={"Content-Type": "text/csv", "Cookie": committee_cookie},
                    body=b"membership_id,email,name\nKLA-1,a@example.org,A\n")
    before = membership.current_roster()
    body = roster_csv(3_000) + b"KLA-X,not-an-address,Nobody,2099-12-31\n"
    answer = client.http.put("/admin/api/roster", headers={"Content-Type": "text/csv", "Cookie": committee_cookie},
                             body=body)
    refused = job_of(client, committee_cookie, answer)  # over 256 KB: a job loads it
    assert refused["state"] == "failed" and refused["errors"][0] == "The roster was not loaded."
    assert refused["errors"][1].startswith("Line 3002:")
    assert membership.current_roster() == before and sorted(m.membership_id for m in Member.scan()) == ["KLA-1"]
    assert post(client, committee_cookie, f"/admin/api/jobs/{refused['id']}/run").status_code == 409  # refused for good


def test_a_large_roster_replaces_the_old_one_and_deletes_it_in_steps(client, committee_cookie, aws):
    client.http.put("/admin/api/roster", headers={"Content-Type": "text/csv", "Cookie": committee_cookie},
                    body=roster_csv(10, name_length=10))
    answer = client.http.put("/admin/api/roster", headers={"Content-Type": "text/csv", "Cookie": committee_cookie},
                             body=roster_csv(1_200, name_length=195))  # over 256 KB, and over one step
    done = job_of(client, committee_cookie, answer)
    assert done["state"] == "done" and done["result"] == {"members": 1_200, "newly_eligible": 0}
    versions = {member.roster for member in Member.scan()}
    assert versions == {membership.current_roster()} and sum(1 for _ in Member.scan()) == 1_200


def test_s3s_cross_site_redirect_starts_the_load_only_from_the_apps_own_site(client, committee_cookie, aws):
    from chalicelib.adapters import uploads

    key = f"{membership.ROSTER_UPLOADS}{membership.upload_owner(committee_cookie)}/{'c' * 32}.csv"
    landing = f"/admin/roster/uploaded?bucket=b&key={quote(key, safe='')}&etag=%22x%22"
    # Some browsers send the cookie cross-site even so (an old one, or a lax setting): still nothing starts.
    arrived = client.http.get(landing, headers={"Sec-Fetch-Site": "cross-site", "Cookie": committee_cookie})
    assert arrived.status_code == 200 and b"Continue" in arrived.body and list(Job.scan()) == []
    _, mine = upload_through_s3(client, committee_cookie, roster_csv(10))
    assert [job.params["key"] for job in Job.scan()] == [mine]
    assert uploads.size(mine) is None  # loaded, and deleted
    # A page of the app's own that another site links to is opened the same way: no change, no session needed.
    bounced = client.http.get("/admin/pairings?state=active", headers={"Sec-Fetch-Site": "cross-site"})
    assert bounced.status_code == 200 and b"url=/admin/pairings?state=active" in bounced.body
    assert client.http.get("/admin/pairings", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 303


def test_only_the_session_that_uploaded_a_file_can_load_it(client, committee_cookie, aws):
    from chalicelib.adapters import uploads
    from tests.helpers import sign_in

    key = f"{membership.ROSTER_UPLOADS}{membership.upload_owner('someone-else')}/{'a' * 32}.csv"
    uploads.put(key, roster_csv(10))
    refused = client.http.get(f"/admin/roster/uploaded?key={key}", headers={"Cookie": committee_cookie})
    assert refused.status_code == 400 and b"not one of yours" in refused.body
    other = sign_in(client)  # the same member, signed in afresh: another session
    _, mine = upload_through_s3(client, committee_cookie, roster_csv(10))
    assert client.http.get(f"/admin/roster/uploaded?key={mine}", headers={"Cookie": other}).status_code == 400
    gone = f"{membership.ROSTER_UPLOADS}{mine.split('/')[2]}/{'b' * 32}.csv"
    assert client.http.get(f"/admin/roster/uploaded?key={gone}", headers={"Cookie": committee_cookie}).status_code == 404
    assert client.http.get("/admin/roster/uploaded?key=inbound/x", headers={"Cookie": committee_cookie}).status_code == 400


# Proposals for a large cohort (issue 16): the same mechanism.

@pytest.fixture
def large_for_proposals(aws, monkeypatch):
    """The demo cohort, counted as large: its proposal is made by the job worker."""
    monkeypatch.setattr(proposals, "INLINE_PROPOSAL", 10)
    seed_demo_cohort()


def test_a_large_cohorts_proposal_is_made_by_a_job_and_kept_for_the_api_and_the_page(client, committee_cookie,
                                                                                    large_for_proposals):
    answer = post(client, committee_cookie, "/admin/api/matching/proposal", {"forbids": []})
    done = job_of(client, committee_cookie, answer)
    assert done["kind"] == "propose_matches" and done["state"] == "done" and (done["done"], done["total"]) == (1, 1)
    kept = client.http.get(f"/admin/api/matching/proposals/{done['id']}", headers={"Cookie": committee_cookie})
    inline = proposals.propose(open_cohort(), {}).proposal
    assert kept.status_code == 200 and kept.json_body == inline  # the engine is deterministic
    assert done["result"] == {"pairs": len(inline["pairs"]), "unmatched_mentees": len(inline["unmatched_mentees"])}
    page = client.http.get(f"/admin/jobs/{done['id']}", headers={"Cookie": committee_cookie}).body.decode()
    assert f"The proposal is ready: {len(inline['pairs'])} pairs" in page
    assert f'href="/admin/matching?cohort={open_cohort().id}&amp;proposal={done["id"]}"' in page
    shown = client.http.get(f"/admin/matching?proposal={done['id']}", headers={"Cookie": committee_cookie}).body.decode()
    assert "Proposed pairs" in shown and shown.count('form="approve-form" name="pair"') == len(inline["pairs"])
    Cohort(id="2028", name="2028 program year", opened_at=clock.now(), status="matching").save()
    elsewhere = client.http.get(f"/admin/matching?cohort=2028&proposal={done['id']}", headers={"Cookie": committee_cookie})
    assert elsewhere.status_code == 404 and b"Proposed pairs" not in elsewhere.body  # not another cohort's draft


def test_the_matching_page_of_a_large_cohort_starts_nothing_until_asked(client, committee_cookie, large_for_proposals):
    page = client.http.get("/admin/matching", headers={"Cookie": committee_cookie}).body.decode()
    assert "Make the matching proposal" in page and "Proposed pairs" not in page and list(Job.scan()) == []
    token = csrf_of(client, committee_cookie)
    asked = client.http.post("/admin/matching", headers={**FORM, "Cookie": committee_cookie},
                             body=f"csrf_token={token}".encode())
    assert asked.status_code == 303 and asked.headers["Location"].startswith("/admin/jobs/")
    [job] = list(Job.scan())
    assert job.kind == "propose_matches" and job.state == "done"


def test_a_large_cohorts_fairest_plan_is_made_by_a_job_with_both_plans_side_by_side(client, committee_cookie,
                                                                                    large_for_proposals):
    done = job_of(client, committee_cookie, post(client, committee_cookie, "/admin/api/matching/proposal",
                                                 {"plan": "fairest", "compare": True, "threshold": 60}))
    assert done["kind"] == "propose_matches" and done["state"] == "done"
    kept = client.http.get(f"/admin/api/matching/proposals/{done['id']}", headers={"Cookie": committee_cookie}).json_body
    inline = proposals.propose(open_cohort(), {"plan": "fairest", "compare": True, "threshold": 60}).proposal
    assert kept == inline and kept["plan"] == "fairest" and set(kept["comparison"]) == {"best_total", "fairest"}
    assert kept["fairness"]["threshold"] == 60
    # From the page: the plan chosen on the large cohort's page goes to the job, and comes back chosen.
    page = client.http.get("/admin/matching?plan=fairest", headers={"Cookie": committee_cookie}).body.decode()
    assert 'name="plan" value="fairest"' in page and 'name="compare" value="yes"' in page
    token = csrf_of(client, committee_cookie)
    asked = client.http.post("/admin/matching", headers={**FORM, "Cookie": committee_cookie},
                             body=f"csrf_token={token}&cohort={open_cohort().id}&plan=fairest&compare=yes".encode())
    assert asked.status_code == 303 and asked.headers["Location"].startswith("/admin/jobs/")
    job = Job.get(asked.headers["Location"].rsplit("/", 1)[1])
    assert job.state == "done" and job.params["options"]["plan"] == "fairest"
    shown = client.http.get(f"/admin/matching?cohort={open_cohort().id}&proposal={job.id}",
                            headers={"Cookie": committee_cookie}).body.decode()
    assert re.search(r'id="plan-fairest"[^>]*checked', shown) and "The two proposals side by side" in shown


def test_a_proposal_job_refuses_a_lock_it_cannot_keep_and_bad_options_start_no_job(client, committee_cookie,
                                                                                   large_for_proposals):
    bad = post(client, committee_cookie, "/admin/api/matching/proposal", {"weights": {"interests": -1}})
    assert bad.status_code == 400 and list(Job.scan()) == []
    refused = job_of(client, committee_cookie, post(client, committee_cookie, "/admin/api/matching/proposal",
                                                    {"locks": [["nobody", "nobody-else"]]}))
    assert refused["state"] == "failed" and refused["errors"]
    assert client.http.get(f"/admin/api/matching/proposals/{refused['id']}",
                           headers={"Cookie": committee_cookie}).status_code == 404
    gone = client.http.get(f"/admin/matching?proposal={'0' * 32}", headers={"Cookie": committee_cookie})
    assert gone.status_code == 404 and b"Please make it again" in gone.body


def test_a_roster_line_too_long_to_read_is_refused_with_its_number(client, committee_cookie, aws):
    headers = {"Content-Type": "text/csv", "Cookie": committee_cookie}
    huge = roster_csv(10) + b"KLA-X," + b"x" * 600_000 + b",Nobody,2099-12-31\n"  # over csv's field limit
    refused = job_of(client, committee_cookie, client.http.put("/admin/api/roster", headers=headers, body=huge))
    assert refused["state"] == "failed" and refused["errors"][1].startswith("Line 12: this line cannot be read")
    small = roster_csv(3) + b'KLA-Y,y@example.org,"' + b"y" * 140_000 + b"\n"  # within a request: a 400, not a 5xx
    answer = client.http.put("/admin/api/roster", headers=headers, body=small)
    assert answer.status_code == 400 and answer.json_body["errors"]["lines"][0].startswith("Line 5:")


def test_a_problem_quoting_a_long_value_is_kept_short(client, committee_cookie, aws):
    body = roster_csv(1_500) + b"KLA-X," + b"x" * 100_000 + b"@,Nobody,2099-12-31\n"
    refused = job_of(client, committee_cookie, client.http.put(
        "/admin/api/roster", headers={"Content-Type": "text/csv", "Cookie": committee_cookie}, body=body))
    assert refused["state"] == "failed" and refused["errors"][1].startswith("Line 1502: 'xxx")
    assert refused["errors"][1].endswith("…") and all(len(error) <= jobs.MAX_ERROR_LENGTH for error in refused["errors"])
