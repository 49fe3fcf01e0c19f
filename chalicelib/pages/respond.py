"""The web alternative to replying by mail: /respond/{token}.

Every mail that asks for an answer links here with the same signed token as
its Reply-To address. The token names the one participant the mail went to,
so the form never asks who is answering. The kickoff and check-in questions are the
system's; the feedback and evaluation questions are the cohort's program
settings (by default the program's: were goals set and what progress was
made, how and how often the pair talks, what worked and what should change,
would you take part again, and overall satisfaction). Submitting the same
link twice changes nothing the second time.

A kickoff check mailed to both partners before each had their own carries a
shared token (tokens.BOTH). Its link cannot know which partner opened it, and
taking answers there would let one answer, or ask for a different partner, in
the other's name. So it records nothing: it asks them to reply to the mail,
where the From address says who they are.
"""
from __future__ import annotations

import hashlib

from chalicelib.domain import agreement, lifecycle, limits, settings_document, tokens
from chalicelib.services import settings_store
from chalicelib.pages import web
from chalicelib.domain.lifecycle import ResponseKind
from chalicelib.adapters.models import Application, Pairing
from chalicelib.services.pairings import get_pairing
from chalicelib.domain.schema import COMMUNICATION_MODES, MEETING_FREQUENCIES, Field
from chalicelib.domain.refusals import Conflict, NotFound
from chalicelib.domain.validation import Invalid, validate_fields
from chalicelib.adapters.aws import signing_key
from chalicelib.adapters.config import settings
from chalicelib.domain import clock
from chalicelib.domain.tokens import BOTH, ReplyAddress
from chalicelib.services.workflow import ANSWER_EVENTS, apply_event

YES_NO = (("yes", "Yes"), ("no", "No"))
RATINGS = (("1", "Going well"), ("2", "Some concerns"), ("3", "I need help"))

CHECKIN_QUESTIONS = (
    Field("rating", "How is it going?", "choice", choices=RATINGS, numeric=True, noun="how it is going"),
    Field("comments", "Anything you would like to tell the committee", "textarea", required=False, max_length=5000),
)
# The partnership agreement: each partner's own answer; the pairing keeps both side by side.
GOAL_FIELDS = tuple(
    Field(f"goal_{number}", f"Goal {number} for the year", "text", required=False, max_length=agreement.GOAL_LENGTH,
          hint="A short sentence. The goals the mentee wrote on the application are filled in as a start."
          if number == 1 else "", noun="at least one goal for the year")
    for number in range(1, agreement.MAX_GOALS + 1))
KICKOFF_QUESTIONS = (
    Field("connected", "Have you and your partner been in touch?", "choice", choices=YES_NO, noun="whether you have been in touch"),
    Field("modes", "How will you keep in touch?", "choices", choices=COMMUNICATION_MODES, required=False,
          hint="Choose one or more.", noun="at least one way you will keep in touch"),
    Field("frequency", "How often will you be in touch?", "choice", choices=MEETING_FREQUENCIES, default="monthly",
          noun="how often you will be in touch"),
    *GOAL_FIELDS,
) + CHECKIN_QUESTIONS
MEETINGS = Field("meetings", "How many times have you met since the last check-in?", "choice",
                 choices=agreement.MEETING_COUNTS, numeric=True, required=False,
                 hint="Any call, video call or meeting in person counts.",
                 noun="how many times you have met")
EXIT_QUESTIONS = (
    Field("would_have_helped", "What would have helped?", "textarea", required=False, max_length=agreement.NOTE_LENGTH),
    Field("take_part_again", "Would you take part in the program again?", "choice",
          choices=YES_NO + (("not_sure", "Not sure"),), noun="whether you would take part again"),
)
# The program's feedback and evaluation questions as the defaults have them (exports name their columns).
PROGRAM_QUESTIONS = tuple(settings_document.question_field(question) for question in settings_document.PROGRAM_QUESTIONS)
QUESTIONS = {ResponseKind.KICKOFF: KICKOFF_QUESTIONS, ResponseKind.CHECKIN: (MEETINGS,) + CHECKIN_QUESTIONS,
             ResponseKind.EXIT: EXIT_QUESTIONS}
GOAL_QUESTIONS = {ResponseKind.CHECKIN: agreement.GOAL_PROGRESS, ResponseKind.EVALUATION: agreement.GOAL_OUTCOMES}
GOAL_PREFIX = "goal-"
SETTINGS_PARTS = {ResponseKind.FEEDBACK: "feedback_questions", ResponseKind.EVALUATION: "evaluation_questions"}
REMATCH = Field("rematch", "I would like a different partner. Only the committee is told, never my partner.",
                "yes_no", required=False)
TITLES = {
    ResponseKind.KICKOFF: "How is your partnership starting?", ResponseKind.CHECKIN: "Mentoring check-in",
    ResponseKind.FEEDBACK: "Mid-program feedback", ResponseKind.EVALUATION: "Program evaluation",
    ResponseKind.EXIT: "Your partnership has closed: two questions",
}


def questions_for(kind: ResponseKind, role: str, cohort: str, held: dict | None = None) -> tuple[Field, ...]:
    """The questions a participant in `role` is asked for this kind of answer: the system's,
    or for feedback and the evaluation the cohort's current settings; check-ins and the
    evaluation add one question per goal of the agreement the pairing holds (`held`)."""
    if kind in SETTINGS_PARTS:
        document = settings_store.current(cohort).document
        asked = settings_document.response_fields(document, SETTINGS_PARTS[kind], role)
    else:
        asked = QUESTIONS[kind]
    return asked + goal_questions(kind, role, held)


def goal_questions(kind: ResponseKind, role: str, held: dict | None) -> tuple[Field, ...]:
    choices = GOAL_QUESTIONS.get(kind)
    if not choices:
        return ()
    return tuple(Field(f"{GOAL_PREFIX}{goal['id']}", goal["text"], "choice", choices=choices, required=False,
                       hint="Your goal." if goal["by"] == role else f"Your {goal['by']}'s goal.",
                       noun=f"an answer for the goal \u201c{goal['text'][:40]}\u201d")
                 for goal in agreement.goals(held))


def _form(address: ReplyAddress, pairing: Pairing) -> tuple[Field, ...]:
    asked = questions_for(address.kind, address.role, pairing.cohort, pairing.agreement)
    return asked if address.kind == ResponseKind.EXIT else asked + (REMATCH,)  # an ended pairing has no partner to change


def _terms(answers: dict) -> agreement.PartnerTerms | None:
    """The partner's side of the agreement, once they wrote any of it: then all of it is checked."""
    goals = tuple(answers.get(field.name, "") for field in GOAL_FIELDS)
    if not answers.get("modes") and not any(goals):
        return None
    return agreement.PartnerTerms(tuple(answers.get("modes", ())), answers.get("frequency", ""), goals)


def _starting_values(address: ReplyAddress, pairing: Pairing) -> dict:
    """The kickoff form starts from the goals the mentee wrote on the application."""
    if address.kind != ResponseKind.KICKOFF:
        return {}
    try:
        written = Application.get(pairing.mentee_id).answers.get("goals")
    except Application.DoesNotExist:
        return {}
    return {"frequency": ["monthly"],  # the program's suggested baseline
            **{f"goal_{number}": [text] for number, text in enumerate(agreement.application_goals(written), 1)}}


def _load(token: str) -> tuple[ReplyAddress, Pairing]:
    address = tokens.read_reply_token(signing_key(), token, clock.now())
    try:
        return address, get_pairing(address.pairing_id)
    except NotFound:
        raise tokens.TokenError("This link is for a mentoring partnership that no longer exists.") from None


def _page(address: ReplyAddress, pairing: Pairing, token: str, values: dict, errors: dict, status: int = 200) -> web.Answer:
    participant = pairing.mentor_name if address.role == "mentor" else pairing.mentee_name
    return web.page("pages/respond.html", status=status, title=TITLES[address.kind], fields=_form(address, pairing),
                    token=token, values=values, errors=errors, participant=participant, kind=address.kind.value)


def _failed(error: Exception) -> web.Answer:
    return web.page("pages/error.html", status=400, heading="This link does not work",
                    message=f"{error} You can always write to the committee instead.")


def _shared_link(status: int) -> web.Answer:
    return web.page("pages/error.html", status=status, heading="Please answer by replying to the mail",
                    message="This link came in a kickoff mail we sent to both of you together, so it cannot tell "
                            "which of you is answering. Please reply to that mail instead: your own address tells "
                            "us who you are, and your reply reaches only the committee. You can also write to the "
                            f"committee at {settings().committee_address}.")


def form_page(token: str) -> web.Answer:
    try:
        address, pairing = _load(token)
    except tokens.TokenError as error:
        return _failed(error)
    if address.role == BOTH:
        return _shared_link(200)
    return _page(address, pairing, token, _starting_values(address, pairing), {})


@web.html_route
def submit(token: str, raw_body: bytes) -> web.Answer:
    try:
        address, pairing = _load(token)
    except tokens.TokenError as error:
        return _failed(error)
    if address.role == BOTH:
        return _shared_link(409)  # nothing is recorded: it could be either partner's answer
    submitted = web.decode_form(raw_body)
    form = _form(address, pairing)
    try:
        answers = validate_fields(submitted, form)
    except Invalid as invalid:
        return _page(address, pairing, token, submitted, invalid.errors, status=web.status_of(invalid))
    wants_rematch = answers.pop("rematch", False)
    by, trigger = f"participant:{address.role}", f"web/{hashlib.sha256(token.encode()).hexdigest()[:32]}"
    text = "\n\n".join(str(answers[field.name]) for field in form if field.kind == "textarea" and answers.get(field.name))
    rating = answers.get("rating")
    try:
        terms = _terms(answers) if address.kind == ResponseKind.KICKOFF else None
    except Invalid as invalid:
        return _page(address, pairing, token, submitted, invalid.errors, status=web.status_of(invalid))
    statuses = {name.removeprefix(GOAL_PREFIX): value for name, value in answers.items() if name.startswith(GOAL_PREFIX)}
    # The answers are kept whole; the event carries at most what a mailed reply's does.
    events = [lifecycle.Event(ANSWER_EVENTS[address.kind], by, trigger, text=text[:limits.MAX_ANSWER_TEXT],
                              rating=lifecycle.Rating(rating) if rating else None, terms=terms,
                              meetings=answers.get("meetings"), goal_statuses=statuses)]
    if wants_rematch:
        events.append(lifecycle.Event(lifecycle.EventKind.REMATCH_REQUESTED, by, f"{trigger}/rematch",
                                      reason=text[:limits.MAX_REASON]))
    try:
        applied = [apply_event(pairing.id, event, source="web", answers=answers) for event in events]
    except Conflict as refusal:
        return web.page("pages/error.html", status=web.status_of(refusal), heading="We could not record this answer",
                        message="This mentoring partnership has ended or changed. Please write to the committee instead.")
    already = not any(outcome.applied for outcome in applied)
    return web.page("pages/respond_thanks.html", already=already, rematch=wants_rematch)
