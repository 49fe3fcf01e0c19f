"""The committee's view of background jobs (services/jobs.py): a page that follows a job's
progress to its outcome, the JSON API, and running a stopped job again.

Reached only through app.py's committee guard.
"""
from __future__ import annotations

from urllib.parse import quote

from chalicelib.adapters.models import Job
from chalicelib.domain.refusals import Conflict
from chalicelib.pages import web
from chalicelib.services import jobs, membership, pairings, proposals, retention
from chalicelib.services.committee import Session

REFRESH_SECONDS = 2  # the page reloads itself while the job runs: no script needed
TITLES = {pairings.APPROVAL_JOB: "Approving pairs", membership.ROSTER_JOB: "Loading the member roster",
          retention.CLOSE_JOB: "Closing a cohort", proposals.PROPOSAL_JOB: "Making the matching proposal"}


def api_url(job: Job) -> str:
    return f"/admin/api/jobs/{job.id}"


def page_url(job: Job) -> str:
    return f"/admin/jobs/{job.id}"


def accepted_json(job: Job) -> web.Answer:
    """The answer to a request that started a job: 202, and where to follow it."""
    answer = web.json_answer({**jobs.job_record(job), "url": api_url(job)}, status=202)
    answer.headers["Location"] = api_url(job)
    return answer


def accepted_page(job: Job) -> web.Answer:
    return web.redirect(page_url(job))


@web.json_route
def job_json(job_id: str) -> web.Answer:
    return web.json_answer(jobs.job_record(jobs.get(job_id)))


@web.json_route
def rerun_json(session: Session, job_id: str) -> web.Answer:
    return accepted_json(jobs.rerun(session.email, job_id))


@web.html_route
def job_page(session: Session, job_id: str, problem: str = "", status: int = 200) -> web.Answer:
    job = jobs.get(job_id)
    record = jobs.job_record(job)
    return web.admin_page("pages/admin/job.html", session, status=status, job=record,
                          title=TITLES.get(job.kind, "A background job"), outcome=outcome(job.kind, record["result"]),
                          next_page=_next_page(job), can_run_again=jobs.can_run_again(job),
                          refresh=REFRESH_SECONDS if record["state"] in (jobs.QUEUED, jobs.RUNNING) else None,
                          problem=problem)


@web.html_route
def rerun_form(session: Session, job_id: str) -> web.Answer:
    try:
        job = jobs.rerun(session.email, job_id)
    except Conflict as refusal:
        return job_page(session, job_id, problem=refusal.message, status=web.status_of(refusal))
    return accepted_page(job)


NEXT_PAGES = {pairings.APPROVAL_JOB: ("/admin/pairings", "See the pairings"),
              membership.ROSTER_JOB: ("/admin/applications", "See the applications"),
              retention.CLOSE_JOB: ("/admin/cohorts", "Back to the cohorts"),
              proposals.PROPOSAL_JOB: ("/admin/matching?cohort={cohort}&proposal={id}", "See the proposal and approve pairs")}


def _next_page(job: Job) -> tuple[str, str] | None:
    if job.kind not in NEXT_PAGES or (job.kind == proposals.PROPOSAL_JOB and jobs.state_of(job) != jobs.DONE):
        return None
    address, words = NEXT_PAGES[job.kind]
    return address.format(id=job.id, cohort=quote(str((job.params or {}).get("cohort", "")), safe="")), words


def outcome(kind: str, result: dict | None) -> str:
    """The job's outcome in the committee's words, as the page said it when the work was done in the request."""
    if not result:
        return ""
    if kind == pairings.APPROVAL_JOB:
        return approved_message(result["paired"])
    if kind == membership.ROSTER_JOB:
        return roster_message(result)
    if kind == retention.CLOSE_JOB:
        return closed_message(result["personal_data_deleted_on"])
    if kind == proposals.PROPOSAL_JOB:
        return (f"The proposal is ready: {result['pairs']} pairs, and {result['unmatched_mentees']} mentees "
                f"who could not be matched.")
    return ""


def approved_message(count: int) -> str:
    return f"{count} pairing{'s' if count != 1 else ''} approved; the introductions are on their way."


def roster_message(result: dict) -> str:
    return f"Loaded {result['members']} members. {result['newly_eligible']} waiting applications are now eligible."


def closed_message(deleted_on: str) -> str:
    return f"The cohort is closed. Its personal data will be deleted on {deleted_on}; the report is kept."
