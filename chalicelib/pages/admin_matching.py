"""The committee's matching page: the proposal under the draft, changes that act at once, and approval in two steps.

Every change to the draft is a form post that saves it and comes back to the
page (so a reload shows what was saved). Approving first shows exactly whom the
introductions go to; only the confirmation, on the same draft revision, sends them.
"""
from __future__ import annotations

from urllib.parse import urlencode

from chalicelib.adapters.models import Application, Cohort, Job
from chalicelib.adapters.store import cohort_or_open, required_cohort
from chalicelib.domain import limits
from chalicelib.domain.refusals import Conflict, Invalid, Refused
from chalicelib.pages import admin_jobs, web
from chalicelib.services import matching_draft, proposals
from chalicelib.services.committee import Session

CHANGES = {
    "keep_together": (matching_draft.keep_together, "Saved in the draft: that pair is kept together."),
    "never_pair": (matching_draft.never_pair, "Saved in the draft: that pair will never be proposed."),
    "remove": (matching_draft.remove, "Removed from the draft."),
}
CLEARED = "The draft is cleared: below is the matching engine's own proposal."
SAVED = {**{change: message for change, (_, message) in CHANGES.items()}, "clear": CLEARED}
TEMPLATE = "pages/admin/matching.html"


def matching_page(session: Session, query: dict | None = None, problem: str = "", status: int = 200,
                  ticked: frozenset = frozenset()) -> web.Answer:
    """The proposal under the draft; `?proposal=<job>` shows one the job worker made; a large cohort's GET starts nothing.
    `query` is a query's strings or, after a refused form, the form's lists."""
    query = query or {}
    cohort = cohort_or_open(_first(query, "cohort"))
    if cohort is None:
        return _page(session, cohort=None, problem=problem, status=status)
    choice = fairness_choice(query)
    try:
        if _first(query, "proposal"):
            drafted = matching_draft.stored_proposal(cohort, _first(query, "proposal"))
        elif not proposals.fits_in_request(cohort):
            return _page(session, status=status, cohort=cohort, large=True, choice=choice, problem=problem)
        else:
            drafted = matching_draft.drafted_proposal(cohort, choice)
    except proposals.ProposalInvalid as refusal:  # a bad fairness choice: the proposal without it, and why
        problem, status, choice = refusal.message, 400, {}
        drafted = matching_draft.drafted_proposal(cohort)
    except Refused as refusal:
        return _page(session, status=web.status_of(refusal), cohort=cohort, problem=refusal.message)
    view, draft = drafted.view, drafted.draft
    locks = set(draft.locks)
    pairs = []
    for pair in view.proposal["pairs"]:
        key, moved = (pair["mentor_id"], pair["mentee_id"]), pair["mentee_id"] in drafted.moved
        # A pair the committee's changes moved starts unticked (its own locks excepted); after a refused
        # approval, what the member had ticked stays ticked.
        pairs.append({**pair, "locked": key in locks, "moved": moved, "was_with": drafted.moved.get(pair["mentee_id"]),
                      "ticked": key in ticked if ticked else key in locks or not moved})
    named = set(view.names)
    absent = {person for entry in draft.locks + draft.forbids for person in entry if person not in named}
    people = {**{person_id: {"name": name, "library": view.libraries.get(person_id, "")} for person_id, name in view.names.items()},
              **_people(absent)}
    return _page(session, status=status, cohort=cohort, view=view, draft=draft, pairs=pairs,
                          people=people, stale=drafted.stale, stored=bool(_first(query, "proposal")), flash=SAVED.get(_first(query, "saved"), ""),
                          problem=problem or drafted.problem, mentor_count=len(view.mentor_ids) + view.mentors_at_capacity)


def _page(session: Session, status: int = 200, **context) -> web.Answer:
    return web.admin_page(TEMPLATE, session, status=status, **{"view": None, "large": False, **context})


def _first(values: dict, name: str) -> str:
    value = values.get(name) or ""
    return value[0] if isinstance(value, list) else value  # a form's lists, or a query's strings


def fairness_choice(values: dict) -> dict:
    """The plan shown for approval, the threshold, and whether to compare: the fairest plan is always compared.
    An unknown plan falls back to the best total; a bad threshold is refused by the proposal."""
    plan = _first(values, "plan") if _first(values, "plan") in proposals.PLANS else proposals.BEST_TOTAL
    return {"plan": plan, "threshold": _first(values, "threshold") or None,
            "compare": _first(values, "compare") == "yes" or plan == proposals.FAIREST}


def start_proposal_form(session: Session, raw_body: bytes) -> web.Answer:
    """A large cohort's proposal under the draft, started as a job (a small cohort's is simply shown)."""
    values = web.decode_form(raw_body) if raw_body else {}
    try:
        cohort = _cohort(values)
        proposed = matching_draft.start_proposal(cohort, session.email, fairness_choice(values))
    except Refused as refusal:
        return matching_page(session, values, problem=f"No proposal was made. {refusal.message}", status=web.status_of(refusal))
    if isinstance(proposed, Job):
        return admin_jobs.accepted_page(proposed)
    return web.redirect(_page_of(cohort))


def _people(ids) -> dict[str, dict]:
    if not ids:
        return {}
    return {a.id: {"name": a.answers["name"], "library": a.answers.get("library_name", "")}
            for a in Application.batch_get(list(ids))}


def _revision(values: dict) -> int:
    revision = values.get("revision", [""])[0]
    if not revision.isdigit():
        raise Invalid("The form is missing the draft's revision: reload the page.", field="revision")
    return int(revision)


def _cohort(values: dict) -> Cohort:
    """The cohort a form or query names, else the one that needs attention."""
    return required_cohort(_first(values, "cohort") or None)


def _page_of(cohort: Cohort, **query) -> str:
    return "/admin/matching?" + urlencode({"cohort": cohort.id, **query})


def draft_change_form(session: Session, raw_body: bytes) -> web.Answer:
    values = web.decode_form(raw_body)
    change = values.get("change", [""])[0]
    try:
        cohort = _cohort(values)
        if change == "clear":
            matching_draft.clear(cohort, session.email)
        elif change in CHANGES:
            chosen = values.get("pair", [""])[0] or f"{values.get('mentor', [''])[0]}:{values.get('mentee', [''])[0]}"
            CHANGES[change][0](cohort, session.email, matching_draft.parse_pair(chosen))
        else:
            raise Invalid("Choose what to change: keep together, never pair, remove or clear.", field="change")
    except Refused as refusal:
        return matching_page(session, values, problem=f"Nothing was changed. {refusal.message}", status=web.status_of(refusal))
    return web.redirect(_page_of(cohort, saved=change))


def _chosen(values: dict) -> list[tuple[str, str]]:
    return list(dict.fromkeys(matching_draft.parse_pair(value) for value in values.get("pair", [])))


def review_form(session: Session, raw_body: bytes) -> web.Answer:
    """Step one: the list of introductions the confirmation will send, and to whom."""
    values = web.decode_form(raw_body, limit=web.LARGE_BODY_BYTES, max_fields=web.LARGE_FORM_FIELDS)
    try:
        cohort = _cohort(values)
        revision, chosen = _revision(values), _chosen(values)
        if not chosen:
            raise Invalid("Tick at least one pair to approve.", field="pair")
        if matching_draft.current(cohort.id).revision != revision:
            raise matching_draft.DraftChanged("The draft changed after this page was opened, so nothing is ready to "
                                              "send. Here is the proposal as it is now; tick the pairs again.")
        introductions = _introductions(chosen)
    except Refused as refusal:
        return matching_page(session, values, problem=refusal.message, status=web.status_of(refusal),
                             ticked=frozenset(_safe_chosen(values)))
    return web.admin_page("pages/admin/matching_confirm.html", session, cohort=cohort, revision=revision,
                          introductions=introductions)


def _introductions(chosen: list[tuple[str, str]]) -> list[dict]:
    ids = {person for pair in chosen for person in pair}
    applications = {a.id: a for a in Application.batch_get(list(ids))}
    if applications.keys() != ids:
        raise Conflict("A ticked pair names an application that no longer exists.")
    return [{"mentor": applications[mentor_id], "mentee": applications[mentee_id]} for mentor_id, mentee_id in chosen]


def _safe_chosen(values: dict) -> list[tuple[str, str]]:
    try:
        return _chosen(values)
    except Invalid:
        return []


def approve_form(session: Session, raw_body: bytes) -> web.Answer:
    """Step two: send exactly the reviewed list, or nothing (many pairs: a job sends them, its page shows how far)."""
    values = web.decode_form(raw_body, limit=web.LARGE_BODY_BYTES, max_fields=web.LARGE_FORM_FIELDS)
    try:
        cohort = _cohort(values)
        approved = matching_draft.approve_reviewed(cohort, session.email, _revision(values), _chosen(values))
    except matching_draft.DraftChanged as refusal:
        return matching_page(session, values, problem=refusal.message, status=web.status_of(refusal),
                             ticked=frozenset(_safe_chosen(values)))
    except Refused as refusal:
        return matching_page(session, values, problem=f"Nothing was approved. {refusal.message}", status=web.status_of(refusal))
    if isinstance(approved, Job):
        return admin_jobs.accepted_page(approved)
    return web.redirect(f"/admin/pairings?approved={len(approved)}")


# The draft as JSON: {"revision", "locks", "forbids"}; a PUT replaces it on the revision it read.

def _draft_document(draft: matching_draft.Draft) -> dict:
    return {"revision": draft.revision, "locks": [list(pair) for pair in draft.locks],
            "forbids": [list(pair) for pair in draft.forbids], "updated_by": draft.updated_by}


@web.json_route
def draft_json(query: dict) -> web.Answer:
    return web.json_answer(_draft_document(matching_draft.current(_cohort(query).id)))


def _pair_list(value, name: str) -> list[tuple[str, str]]:
    if not isinstance(value, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(i, str) and len(i) <= limits.MAX_ID for i in pair)
            for pair in value):
        raise Invalid(f"{name} must be a list of [mentor_id, mentee_id] pairs.", field=name)
    return [(mentor_id, mentee_id) for mentor_id, mentee_id in value]


@web.json_route
def draft_put_json(session: Session, raw_body: bytes, query: dict) -> web.Answer:
    document = web.decode_json(raw_body)
    if not isinstance(document, dict) or not isinstance(document.get("revision"), int):
        raise Invalid('Send {"revision": n, "locks": [[mentor_id, mentee_id], ...], "forbids": [...]}.')
    locks, forbids = _pair_list(document.get("locks", []), "locks"), _pair_list(document.get("forbids", []), "forbids")
    draft = matching_draft.replace(_cohort(query), session.email, document["revision"], locks, forbids)
    return web.json_answer(_draft_document(draft))
