"""The committee's matching and pairing pages and JSON API.

Reached only through app.py's committee guard; each function takes the
signed-in member's Session.
"""
from __future__ import annotations

from chalicelib.adapters.models import Application, Job, Pairing
from chalicelib.adapters.store import cohort_or_open
from chalicelib.domain import agreement, limits, lifecycle
from chalicelib.domain.lifecycle import ResponseKind, State
from chalicelib.domain.refusals import Conflict, Invalid, Refused
from chalicelib.domain.schema import COMMUNICATION_MODES, MEETING_FREQUENCIES, label_of
from chalicelib.pages import admin_jobs, respond, web
from chalicelib.services import committee, concerns, pairings, proposals, workflow
from chalicelib.services.applications import pairing_responses
from chalicelib.services.committee import Session
from chalicelib.services.pairings import PairRequest

STATES = tuple(state.value for state in State)
FLAGS = {flag.value: flag.words for flag in lifecycle.Flag}


# Proposals.

@web.json_route
def proposal_json(session: Session, raw_body: bytes, query: dict | None = None) -> web.Answer:
    cohort = cohort_or_open((query or {}).get("cohort"))
    if cohort is None:
        raise Conflict("No cohort is open.")
    options = web.decode_json(raw_body) if raw_body else {}
    proposed = proposals.propose_or_start(session.email, cohort, options)
    if isinstance(proposed, Job):
        return admin_jobs.accepted_json(proposed)
    return web.json_answer(proposed.proposal)


@web.json_route
def stored_proposal_json(job_id: str) -> web.Answer:
    """A proposal the job worker made for a large cohort, as the proposal API answers it."""
    view, _ = proposals.stored(job_id)
    return web.json_answer(view.proposal)


# Approval through the API (the page's two steps are in admin_matching).

def _requests(pairs) -> list[PairRequest]:
    if not isinstance(pairs, list) or not pairs or not all(
            isinstance(pair, dict) and all(isinstance(pair.get(key), str) and len(pair[key]) <= limits.MAX_ID
                                           for key in ("mentor_id", "mentee_id"))
            for pair in pairs):
        raise Invalid('Send {"pairs": [{"mentor_id": ..., "mentee_id": ...}, ...]} with at least one pair.', field="pairs")
    return [PairRequest(pair["mentor_id"], pair["mentee_id"]) for pair in pairs]


@web.json_route
def approve_json(session: Session, raw_body: bytes) -> web.Answer:
    document = web.decode_json(raw_body, limit=web.LARGE_BODY_BYTES)
    requests = _requests(document.get("pairs") if isinstance(document, dict) else None)
    approved = pairings.approve_or_start(session.email, requests)
    if isinstance(approved, Job):
        return admin_jobs.accepted_json(approved)
    return web.json_answer({"pairings": [_summary(p) for p in approved]}, status=201)


def _summary(pairing: Pairing) -> dict:
    return {"id": pairing.id, "mentor_id": pairing.mentor_id, "mentee_id": pairing.mentee_id, "state": pairing.state}


# Pairings.

def _names(pairing_list: list[Pairing]) -> dict[str, str]:
    ids = {i for p in pairing_list for i in (p.mentor_id, p.mentee_id)}
    return {a.id: a.answers["name"] for a in Application.batch_get(list(ids))} if ids else {}


@web.json_route
def pairings_json(query: dict) -> web.Answer:
    cohort = cohort_or_open(query.get("cohort"))
    state = query.get("state")
    if state and state not in STATES:
        raise Invalid(f"state must be one of: {', '.join(STATES)}.", field="state")
    found = pairings.cohort_pairings(cohort.id, state) if cohort else []
    return web.json_answer({"pairings": [pairings.pairing_record(p) for p in found]})


@web.json_route
def pairing_json(pairing_id: str) -> web.Answer:
    pairing = pairings.get_pairing(pairing_id)
    return web.json_answer({**pairings.pairing_record(pairing), "responses": pairing_responses(pairing_id),
                            "agreement": agreement.api_view(pairing.agreement),
                            "meetings": list(pairing.meetings or []), "concerns": concerns.of_pairing(pairing_id)})


def _act(session: Session, pairing_id: str, values: dict) -> workflow.Outcome:
    action = limits.text(values.get("action"), "action", 20, what="the action")
    reason = limits.text(values.get("reason"), "reason", limits.MAX_REASON, what="the reason")
    days = values.get("days")
    days = None if days in (None, "") else limits.whole_number(days, "days", limits.EXTENSION_DAYS,
                                                               "the days to extend by")
    return workflow.committee_action(session.email, pairing_id, action, reason, days,
                                     closure_reason=values.get("closure_reason") or None)


@web.json_route
def pairing_action_json(session: Session, pairing_id: str, raw_body: bytes) -> web.Answer:
    document = web.decode_json(raw_body)
    if not isinstance(document, dict):
        raise Invalid('Send {"action": "pause" | "resume" | "dissolve" | "extend", "closure_reason"?, "reason"?, "days"?}.')
    outcome = _act(session, pairing_id, document)
    return web.json_answer({"id": pairing_id, "state": outcome.state})


@web.html_route
def pairing_action_form(session: Session, pairing_id: str, raw_body: bytes) -> web.Answer:
    values = {name: items[0] for name, items in web.decode_form(raw_body).items()}
    pairings.get_pairing(pairing_id)  # an unknown pairing is "not found", not a problem on its page
    try:
        _act(session, pairing_id, values)
    except Conflict as refusal:
        return pairing_page(session, pairing_id, problem=f"That cannot be done now: {refusal}.", status=web.status_of(refusal))
    except Refused as refusal:
        return pairing_page(session, pairing_id, problem=refusal.message, status=web.status_of(refusal))
    return web.redirect(f"/admin/pairings/{pairing_id}")


def pairings_page(session: Session, query: dict) -> web.Answer:
    cohort = cohort_or_open(query.get("cohort"))
    state = query.get("state") if query.get("state") in STATES else ""
    flag = query.get("flag") if query.get("flag") in FLAGS else ""
    found = [pairing for pairing in (pairings.cohort_pairings(cohort.id, state) if cohort else [])
             if not flag or flag in (pairing.flags or ())]
    approved = query.get("approved", "")
    flash = admin_jobs.approved_message(int(approved)) if approved.isdigit() else ""
    return web.admin_page("pages/admin/pairings.html", session, cohort=cohort, pairings=[pairings.pairing_record(p) for p in found],
                 names=_names(found), state_filter=state, states=STATES, flash=flash, flag_filter=flag, flags=FLAGS)


@web.html_route
def pairing_page(session: Session, pairing_id: str, problem: str = "", status: int = 200) -> web.Answer:
    pairing = pairings.get_pairing(pairing_id)
    responses = [{**response, "about": ResponseKind(response["kind"]).label,
                  "questions": _answered_questions(response, pairing.cohort, pairing.agreement)}
                 for response in pairing_responses(pairing_id)]
    return web.admin_page("pages/admin/pairing.html", session, status=status, pairing=pairings.pairing_record(pairing),
                 names=_names([pairing]), responses=responses, problem=problem,
                 actions=_allowed_actions(pairing.state), partners=_partners(pairing), flags=FLAGS,
                 concerns=concerns.of_pairing(pairing_id),
                 committee_members=[member["email"] for member in committee.members()],
                 terms=_terms_side_by_side(pairing.agreement), goals=agreement.goals(pairing.agreement),
                 meetings=list(pairing.meetings or []), closure_reasons=agreement.CLOSURE_REASONS)


def _partners(pairing: Pairing) -> list[dict]:
    """Both partners as the committee contacts them: mentee first; an erased application leaves
    the name and address the pairing kept, and no link."""
    applications = {a.id: a for a in Application.batch_get([pairing.mentee_id, pairing.mentor_id])}
    partners = []
    for role, application_id, name, email in (("mentee", pairing.mentee_id, pairing.mentee_name, pairing.mentee_email),
                                              ("mentor", pairing.mentor_id, pairing.mentor_name, pairing.mentor_email)):
        application = applications.get(application_id)
        answers = application.answers if application else {}
        partners.append({"role": role, "name": answers.get("name") or name or "erased",
                         "email": application.email if application else email,
                         "application_id": application_id if application else None, "answers": answers})
    return partners


def _terms_side_by_side(held: dict | None) -> list[tuple[str, str, str]]:
    """(question, the mentor's answer, the mentee's answer): differences stay visible."""
    view = agreement.api_view(held)
    if not any(view["frequency"].values()):
        return []
    def modes(role: str) -> str:
        return ", ".join(label_of(COMMUNICATION_MODES, mode) for mode in view["modes"][role] or []) or "not answered yet"
    def frequency(role: str) -> str:
        return label_of(MEETING_FREQUENCIES, view["frequency"][role]) if view["frequency"][role] else "not answered yet"
    return [("How they keep in touch", modes("mentor"), modes("mentee")),
            ("How often", frequency("mentor"), frequency("mentee"))]


def _answered_questions(response: dict, cohort: str, held: dict | None) -> list[dict]:
    """A web form's answers beside their questions, as the committee reads them. The rating and
    the written answers have columns of their own; a question since removed shows its name."""
    asked = respond.questions_for(ResponseKind(response["kind"]), response["participant"], cohort, held)
    fields = {field.name: field for field in asked}
    return [{"field": fields.get(name), "label": fields[name].label if name in fields else name, "value": value}
            for name, value in response["answers"].items()
            if name != "rating" and (name not in fields or fields[name].kind != "textarea")]


def _allowed_actions(state: str) -> list[str]:
    return [action for action, kind in workflow.COMMITTEE_ACTIONS.items()
            if (State(state), kind) in lifecycle.TRANSITIONS]
