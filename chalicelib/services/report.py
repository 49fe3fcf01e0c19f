"""The committee's cohort report: how many applied, were paired, were asked and answered.

`aggregate` is a pure function over plain records (dicts), so every number can
be tested without AWS; `live_report` loads the records of one cohort; `freeze`
keeps the computed report on the Cohort item, so the committee still has its
yearly review after retention has deleted the personal data.

How each number is counted
--------------------------
applications
    mentors, mentees: every application received for that role in the cohort,
    whatever its status (withdrawn ones included; their own counts follow).
    eligible: applications, of either role, whose status is "eligible".
    pending_verification, withdrawn: likewise, by status.
    email_confirmed: applications whose address was confirmed.
pairings
    total, and by_state: every lifecycle.State with its count, zero included.
kickoffs / checkins / feedback / evaluations
    sent / requested: 2 x the `kickoff_due` / `checkin_due` / `feedback_due` /
    `evaluation_due` history entries: each such event mails each of the two
    participants their own request (lifecycle._to_each). A request is counted
    when the system issued it, whether or not the outbox could deliver it.
    Evaluation reminders are not new requests and are not counted. A kickoff
    check sent before each partner had their own was one mail to both that
    asked each of them to reply: it counts as two requests too.
    answered / received: answers, counted once per participant per request:
    a Response of that kind is attributed to the latest request of its kind
    in the pairing's history at or before the answer, and a participant who
    answers one request twice (by mail and by the web form, both kept) counts
    once. An answer to an old shared kickoff check is its sender's, so the
    two partners' answers to it count once each.
    responses: the raw number of Response items of that kind.
    checkins.ratings: the check-in answers' ratings (1, 2, 3) by name.
    satisfaction_avg (feedback and evaluations): the mean of answers
    ["satisfaction"] (1-5, asked on the web form only; mail replies carry
    none), taking each participant's latest answer that has one, rounded to
    two decimals; None when there is none. satisfaction_count is how many
    participants that is and satisfaction_counts its distribution.
response_rates
    answered / sent for each of the four, capped at 1, rounded to three
    decimals; None when nothing was sent.
agreement
    the partnership agreements, goals and meetings: domain/agreement.year_figures
    says how each is counted (goals met, median meetings per pair, pairs meeting
    at least as often as agreed).
closures
    partnerships closed early, by closure reason (domain/agreement.closure_counts).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

from chalicelib.domain import agreement, clock
from chalicelib.domain.lifecycle import EventKind, Rating, ResponseKind, Schedule, State
from chalicelib.services.applications import Status, response_record
from chalicelib.adapters.store import CLOSED

SATISFACTION = range(1, 6)

# Each section: the request event, the Response kind that answers it, and the
# names of its two numbers in the report (as issue 4 names them).
SECTIONS = (
    ("kickoffs", EventKind.KICKOFF_DUE, ResponseKind.KICKOFF, "sent", "answered"),
    ("checkins", EventKind.CHECKIN_DUE, ResponseKind.CHECKIN, "sent", "answered"),
    ("feedback", EventKind.FEEDBACK_DUE, ResponseKind.FEEDBACK, "requested", "received"),
    ("evaluations", EventKind.EVALUATION_DUE, ResponseKind.EVALUATION, "requested", "received"),
)
MAILS_PER_REQUEST = 2  # one to the mentor, one to the mentee


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _request_times(pairing: Mapping, event: EventKind) -> list[datetime]:
    return sorted(_moment(entry["at"]) for entry in pairing.get("history") or [] if entry.get("event") == event)


def _answered_request(requests: list[datetime], at: datetime) -> int:
    """The index of the latest request at or before `at` (-1 if none came before)."""
    return sum(1 for requested in requests if requested <= at) - 1


def _satisfaction(answers: Mapping | None) -> int | None:
    value = (answers or {}).get("satisfaction")
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number in SATISFACTION else None


def _satisfaction_summary(responses: list[Mapping]) -> dict:
    latest: dict[tuple[str, str], tuple[datetime, int]] = {}
    for response in responses:
        score = _satisfaction(response.get("answers"))
        if score is None:
            continue
        key, at = (response["pairing_id"], response["participant"]), _moment(response["at"])
        if key not in latest or at >= latest[key][0]:
            latest[key] = (at, score)
    scores = [score for _, score in latest.values()]
    counts = Counter(scores)
    return {
        "satisfaction_avg": round(sum(scores) / len(scores), 2) if scores else None,
        "satisfaction_count": len(scores),
        "satisfaction_counts": {str(score): counts.get(score, 0) for score in SATISFACTION},
    }


def response_rate(answered: int, sent: int) -> float | None:
    return round(min(1.0, answered / sent), 3) if sent else None


def aggregate(cohort_id: str, applications: Iterable[Mapping], pairings: Iterable[Mapping],
              responses: Iterable[Mapping], checkin_every_days: int = Schedule.checkin_every_days) -> dict:
    """The report over plain records.

    applications: {"role", "status", "email_confirmed"}
    pairings: {"id", "state", "history": [{"at", "event", ...}], "agreement"?, "meetings"?}
    responses: {"pairing_id", "participant", "kind", "rating", "answers", "at"}
    """
    applications, pairings, responses = list(applications), list(pairings), list(responses)
    roles = Counter(application["role"] for application in applications)
    statuses = Counter(application["status"] for application in applications)
    states = Counter(pairing["state"] for pairing in pairings)
    by_id = {pairing["id"]: pairing for pairing in pairings}
    by_kind: dict[str, list[Mapping]] = {kind.value: [] for kind in ResponseKind}
    for response in responses:
        by_kind.setdefault(response["kind"], []).append(response)

    report = {
        "cohort": cohort_id,
        "applications": {
            "mentors": roles.get("mentor", 0),
            "mentees": roles.get("mentee", 0),
            "eligible": statuses.get(Status.ELIGIBLE, 0),
            "pending_verification": statuses.get(Status.PENDING_VERIFICATION, 0),
            "withdrawn": statuses.get(Status.WITHDRAWN, 0),
            "email_confirmed": sum(1 for application in applications if application.get("email_confirmed")),
        },
        "pairings": {"total": len(pairings), "by_state": {state.value: states.get(state.value, 0) for state in State}},
    }
    for section, event, kind, asked_name, answered_name in SECTIONS:
        requests = {pairing_id: _request_times(pairing, event) for pairing_id, pairing in by_id.items()}
        answered = {(response["pairing_id"], response["participant"],
                     _answered_request(requests.get(response["pairing_id"], []), _moment(response["at"])))
                    for response in by_kind[kind]}
        report[section] = {
            asked_name: MAILS_PER_REQUEST * sum(len(times) for times in requests.values()),
            answered_name: len(answered),
            "responses": len(by_kind[kind]),
        }
    ratings = Counter(response.get("rating") for response in by_kind[ResponseKind.CHECKIN])
    report["checkins"]["ratings"] = {rating.name.lower(): ratings.get(rating.value, 0) for rating in Rating}
    report["feedback"].update(_satisfaction_summary(by_kind[ResponseKind.FEEDBACK]))
    report["evaluations"].update(_satisfaction_summary(by_kind[ResponseKind.EVALUATION]))
    report["agreement"] = agreement.year_figures(
        ({**pairing, "checkins": _request_times(pairing, EventKind.CHECKIN_DUE)} for pairing in pairings),
        checkin_every_days)
    report["closures"] = agreement.closure_counts(pairings)
    report["response_rates"] = {
        "kickoffs": response_rate(report["kickoffs"]["answered"], report["kickoffs"]["sent"]),
        "checkins": response_rate(report["checkins"]["answered"], report["checkins"]["sent"]),
        "feedback": response_rate(report["feedback"]["received"], report["feedback"]["requested"]),
        "evaluations": response_rate(report["evaluations"]["received"], report["evaluations"]["requested"]),
    }
    return report


# --- Loading and keeping ---------------------------------------------------------------

def application_fact(application) -> dict:
    return {"role": application.role, "status": application.status,
            "email_confirmed": application.email_confirmed_at is not None}


def pairing_fact(pairing) -> dict:
    return {"id": pairing.id, "state": pairing.state, "history": pairing.history or [],
            "agreement": pairing.agreement or {}, "meetings": pairing.meetings or []}


def cohort_responses(pairing_list) -> list:
    from chalicelib.adapters.models import Response

    return [response for pairing in pairing_list for response in Response.query(pairing.id)]


def live_report(cohort) -> dict:
    from chalicelib.services.pairings import cohort_pairings, cohort_schedule
    from chalicelib.adapters.store import cohort_applications

    pairing_list = cohort_pairings(cohort.id)
    report = aggregate(cohort.id, [application_fact(a) for a in cohort_applications(cohort.id)],
                       [pairing_fact(p) for p in pairing_list],
                       [response_record(r) for r in cohort_responses(pairing_list)],
                       cohort_schedule(cohort.id).checkin_every_days)
    return {**report, "cohort_name": cohort.name, "source": "live", "computed_at": clock.iso(clock.now())}


def _has_applications(report: Mapping) -> bool:
    return bool(report["applications"]["mentors"] or report["applications"]["mentees"])


def report_for(cohort) -> dict:
    """The frozen report once the cohort is closed or its applications are gone; else the live one."""
    frozen = cohort.report
    if frozen and cohort.status == CLOSED:
        return {**frozen, "source": "frozen"}
    live = live_report(cohort)
    if frozen and not _has_applications(live):
        return {**frozen, "source": "frozen"}
    return live


def freeze(cohort_id: str) -> dict:
    """Compute the cohort's report and keep it on the Cohort item; returns what is kept.

    Called before retention deletes personal data. Once the applications are
    gone, freezing again keeps the report already frozen rather than
    overwriting it with zeros."""
    from chalicelib.adapters.models import Cohort

    cohort = Cohort.get(cohort_id, consistent_read=True)
    live = live_report(cohort)
    if cohort.report and not _has_applications(live):
        return cohort.report
    frozen = {**live, "source": "frozen", "frozen_at": live["computed_at"]}
    cohort.update(actions=[Cohort.report.set(frozen)])
    return frozen
