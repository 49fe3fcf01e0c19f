"""The program content the committee owns: one settings document per cohort.

The document has seven parts:

- `interests`: the topic vocabulary, [{"value", "label", "retired"}]. A topic
  is renamed by changing its label (the value stays) and retired rather than
  removed: retired topics leave the form and stay readable on old answers.
- `questions`: the committee's own application questions (see QUESTION_KEYS).
  A choice question asked of both roles can drive matching, by "same" or
  "overlap" answers, with a weight; it then joins the built-in criteria.
- `mail`: {mail name: {"subject", "body"}} for every mail the system sends,
  in the template language with the mail's named placeholders (MAILS).
- `schedule`: lifecycle.Schedule's fields.
- `feedback_questions`, `evaluation_questions`: the web form's questions for
  the mid-program feedback and the evaluation, shaped like `questions`.
- `guidelines`: the public program page (/program), in Markdown.

The defaults reproduce the program description and the system's own texts
(the mail defaults are the files in templates/mail). `validate` checks a
whole document and names every problem by its location ("questions[2].choices").
Committee templates compile and render in a jinja2 sandbox; a template is
refused when it is saved if it does not compile, names an unknown placeholder
or reaches for Python internals.

Pure: nothing here imports chalice, boto3 or pynamodb, or does I/O beyond
reading the package's own mail templates.
"""
from __future__ import annotations

import copy
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from chalicelib.domain import lifecycle, matching
from chalicelib.domain.schema import BOTH_ROLES, COMMUNICATION_MODES, FIELDS, FIELDS_BY_NAME, INTERESTS, MEETING_FREQUENCIES, Field
from chalicelib.domain.refusals import Invalid
from chalicelib.domain.templating import TEMPLATE_DIR, library_type_label

PARTS = ("interests", "questions", "mail", "schedule", "feedback_questions", "evaluation_questions", "guidelines")
META_KEYS = ("cohort", "version", "saved_by", "saved_at")  # what GET adds; a PUT may send them back

# The kinds of question, as the committee names them, and the form field each becomes.
KINDS = {"short_text": "text", "long_text": "textarea", "single_choice": "choice",
         "multiple_choice": "choices", "yes_no": "yes_no"}
KIND_LABELS = {"short_text": "Short text", "long_text": "Long text", "single_choice": "Single choice",
               "multiple_choice": "Multiple choice", "yes_no": "Yes or no (a tick box)"}
CHOICE_KINDS = ("single_choice", "multiple_choice")
ASKED = {"both": BOTH_ROLES, "mentors": ("mentor",), "mentees": ("mentee",)}
ASKED_LABELS = {"both": "Mentors and mentees", "mentors": "Mentors only", "mentees": "Mentees only"}
RULES = {matching.SAME: "Same answer", matching.OVERLAP: "Overlapping answers"}
QUESTION_KEYS = ("name", "label", "kind", "required", "asked", "hint", "choices", "matching")
# The core fields stay on every form: the workflow and matching read them.
CORE_FIELDS = ("role", "name", "email", "membership_id", "library_type", "communication", "capacity",
               "consent_confidentiality")
RESERVED_NAMES = (frozenset(FIELDS_BY_NAME) | {criterion.name for criterion in matching.CRITERIA}
                  | {"id", "past_partners", "who", "rematch", "rating", "comments"})
SECTION_BY_ASKED = {"both": "questions", "mentors": "mentor", "mentees": "mentee"}

MAX_TOPICS = 64  # the matching engine's bit masks
MAX_QUESTIONS = 40
MAX_CHOICES = 50
MAX_LABEL = 300
MAX_HINT = 500
MAX_SUBJECT = 300
MAX_BODY = 20_000
MAX_GUIDELINES = 100_000
MAX_DAYS = 1000
SHORT_TEXT_LENGTH, LONG_TEXT_LENGTH = 200, 5000
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # topics and questions
CHOICE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]{0,39}$")  # a choice may be a number: "1" to "5"


class SettingsInvalid(Invalid):
    """The document was refused; `errors` maps each problem's location to its message."""


# --- Mail: every mail the system sends, and its placeholders with sample data ----------

_SAMPLE_MENTOR = {
    "role": "mentor", "name": "Pat Rivera", "email": "pat.rivera@example.org", "membership_id": "LA-2002",
    "library_name": "Bluegrass Community College Library", "library_type": "academic",
    "position": "Head of reference", "years_experience": 15, "career_stage": "senior", "region": "Lexington",
    "interests": ["leadership", "instruction"], "communication": ["email", "video"], "meeting_frequency": "monthly",
    "goals": "Share what I have learned about leading a small team.", "capacity": 2, "cross_type_ok": True,
    "comments": "", "consent_confidentiality": True,
}
_SAMPLE_MENTEE = {
    "role": "mentee", "name": "Jo Reader", "email": "jo.reader@example.org", "membership_id": "LA-1001",
    "library_name": "Pine Mountain Public Library", "library_type": "public", "position": "Library assistant",
    "years_experience": 3, "career_stage": "new_professional", "region": "Pikeville",
    "interests": ["instruction", "youth_services"], "communication": ["email", "video"], "meeting_frequency": "monthly",
    "goals": "Learn how to plan a summer reading program.", "preferred_library_type": "any",
    "comments": "", "consent_confidentiality": True,
}
_PAIR = {"mentor": {"name": "Pat Rivera", "email": "pat.rivera@example.org"},
         "mentee": {"name": "Jo Reader", "email": "jo.reader@example.org"},
         "pairing_id": "5f0c2a9e8b7d4c3a2e1f0a9b8c7d6e5f"}
_TO_MENTEE = {**_PAIR, "role": "mentee", "participant": _PAIR["mentee"], "respond_token": "SAMPLE-TOKEN"}
_CLOSES_AT = "2027-02-14T12:00:00+00:00"


@dataclass(frozen=True)
class MailText:
    title: str  # what the editor calls it
    sent: str  # when it is sent, in a sentence
    sample: Mapping[str, Any]  # its placeholders, each with sample data for the preview and the save-time check


MAILS: dict[str, MailText] = {
    "confirm_application": MailText("Application confirmation", "to an applicant, to confirm their email address",
                                    {"application": _SAMPLE_MENTEE, "confirm_token": "SAMPLE-TOKEN"}),
    "sign_in": MailText("Committee sign-in link", "to a committee member who asks to sign in",
                        {"sign_in_token": "SAMPLE-TOKEN"}),
    "introduction": MailText("Introduction", "to a new pair, when the committee approves it",
                             {"mentor": _SAMPLE_MENTOR, "mentee": _SAMPLE_MENTEE}),
    "kickoff_check": MailText("Kickoff check", "to each partner, some days after the introduction", _TO_MENTEE),
    "checkin": MailText("Check-in", "to each partner, at every check-in interval", _TO_MENTEE),
    "feedback_request": MailText("Mid-program feedback request", "to each partner, on the feedback day", _TO_MENTEE),
    "evaluation_request": MailText("Evaluation request", "to each partner, on the evaluation day",
                                   {**_TO_MENTEE, "closes_at": _CLOSES_AT}),
    "evaluation_reminder": MailText("Evaluation reminder", "to a partner who has not answered the evaluation",
                                    {**_TO_MENTEE, "closes_at": _CLOSES_AT, "reminder": 1}),
    "pairing_closed": MailText("Partnership closed", "to each partner when a partnership completes or is closed",
                               {**_TO_MENTEE, "outcome": "completed"}),
    "rematch_alert": MailText("Committee alert: a different partner", "to the committee, when someone asks for a different partner",
                              {**_PAIR, "asked_by": "mentee", "reason": "We cannot find a time that suits us both."}),
    "help_alert": MailText("Committee alert: need help", "to the committee, when someone answers \"need help\"",
                           {**_PAIR, "participant": "mentee", "about": "check-in", "text": "We have not managed to meet."}),
    "committee_digest": MailText("Committee digest", "to the committee, once a day when there is news",
                                 {"alerts": [{"text": "The pair has left 2 check-ins in a row unanswered.",
                                              "pairing_id": _PAIR["pairing_id"], "pair": "Jo Reader and Pat Rivera",
                                              "kind": "silent", "at": "2026-03-01"}]}),
    "address_undeliverable": MailText("Committee alert: undeliverable address", "to the committee, when mail to an address bounces",
                                      {"address": "jo.reader@example.org", "reason": "bounce", "detail": "General"}),
}
COMMON_PLACEHOLDERS = {"base_url": "https://mentoring.example.org", "committee_address": "committee@example.org"}


def mail_sample(name: str) -> dict[str, Any]:
    return {**COMMON_PLACEHOLDERS, **MAILS[name].sample}


def placeholder_names(name: str) -> list[str]:
    """The placeholders a mail may use, as the editor lists them: "mentor.name", "base_url", ..."""
    listed = []
    for key, value in mail_sample(name).items():
        if isinstance(value, Mapping):
            listed += [f"{key}.{part}" for part in value]
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            listed.append(f"{key} (a list; each has {', '.join(value[0])})")
        else:
            listed.append(key)
    return listed


def _normal_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip()


@lru_cache(maxsize=1)
def default_mail() -> dict[str, dict[str, str]]:
    """The system's own subject and text of each mail: the files in templates/mail."""
    def source(name: str) -> str:
        return (TEMPLATE_DIR / "mail" / name).read_text(encoding="utf-8")

    return {name: {"subject": " ".join(source(f"{name}.subject.txt").split()),
                   "body": _normal_text(source(f"{name}.txt"))} for name in MAILS}


@lru_cache(maxsize=1)
def _mail_environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)
    env.globals.clear()  # no range, cycler, joiner, namespace...: only the mail's placeholders
    env.filters["library_type"] = library_type_label
    return env


@lru_cache(maxsize=256)
def _compiled(source: str):
    return _mail_environment().from_string(source)


def _template_problem(source: str, allowed: set[str], sample: Mapping[str, Any]) -> str | None:
    """Why a committee template cannot be used, or None: checked when it is saved, never when it is sent."""
    from jinja2 import TemplateSyntaxError, UndefinedError, meta, nodes
    from jinja2.exceptions import SecurityError

    env = _mail_environment()
    try:
        tree = env.parse(source)
        _compiled(source)
    except TemplateSyntaxError as error:
        return f"The template does not work (line {error.lineno}): {(error.message or '').rstrip('.')}."
    unknown = sorted(meta.find_undeclared_variables(tree) - allowed)
    if unknown:
        return (f"Unknown placeholder{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
                f"This mail can use: {', '.join(sorted(allowed))}.")
    hidden = [node.attr for node in tree.find_all(nodes.Getattr) if node.attr.startswith("_")]
    hidden += [node.arg.value for node in tree.find_all(nodes.Getitem)
               if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) and node.arg.value.startswith("_")]
    if hidden:
        return f"Templates cannot use names that start with an underscore ({', '.join(sorted(set(hidden)))})."
    try:
        _compiled(source).render(sample)
    except SecurityError:
        return "The template tries to reach something templates may not use."
    except UndefinedError as error:
        missing = re.search(r"has no attribute '([^']*)'", error.message or "")
        what = f"\u201c{missing.group(1)}\u201d" if missing else (error.message or "").rstrip(".")
        return f"The template uses something the mail does not have: {what}."
    except Exception as error:  # noqa: BLE001 - any failure on the sample data refuses the template
        return f"The template fails with the sample data: {error}."
    return None


def render_mail(name: str, text: Mapping[str, str], context: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, plain-text body) of a committee-edited mail, rendered in the sandbox."""
    subject = " ".join(_compiled(text["subject"]).render(context).split())
    return subject, _compiled(text["body"]).render(context)


def edited_mail(document: Mapping, name: str) -> dict[str, str] | None:
    """The committee's subject and body of this mail, or None when it is the system's own."""
    text = document.get("mail", {}).get(name)
    return None if text is None or text == default_mail()[name] else text


def mail_preview(name: str, text: Mapping[str, str]) -> tuple[str, str]:
    return render_mail(name, text, mail_sample(name))


_LINK = re.compile(r"(https?://[^\s<>\"]+[^\s<>\".,;:!?)\]])")


def paragraphs(text: str) -> list[list[list[tuple[str, bool]]]]:
    """A plain-text body as paragraphs of lines of (text, is_link) pieces, for the HTML part."""
    blocks = [block for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]
    return [[[(piece, bool(_LINK.fullmatch(piece))) for piece in _LINK.split(line) if piece]
             for line in block.split("\n")] for block in blocks]


# --- Guidelines ---------------------------------------------------------------------

def guidelines_html(markdown: str):
    """The guidelines as HTML: Markdown rendered by markdown-it-py, then sanitised by nh3
    (scripts, styles, event handlers and javascript: links removed). Markup, safe to show."""
    import nh3
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    return Markup(nh3.clean(html))


# --- Defaults -------------------------------------------------------------------------

def _choices(vocabulary) -> list[dict[str, str]]:
    return [{"value": value, "label": label} for value, label in vocabulary]


def _question(name: str, label: str, kind: str, choices=(), required: bool = True) -> dict:
    return {"name": name, "label": label, "kind": kind, "required": required, "asked": "both", "hint": "",
            "choices": _choices(choices), "matching": None}


# The program's questions for the mid-program feedback and the evaluation: goals and
# progress, how and how often the pair talks, what worked and what should change,
# taking part again, and overall satisfaction (report.py reads "satisfaction", 1-5).
PROGRAM_QUESTIONS = (
    _question("goals_set", "Have you and your partner set goals?", "single_choice",
              (("yes", "Yes"), ("partly", "Partly"), ("no", "No"))),
    _question("goals_progress", "What progress have you made toward your goals?", "long_text", required=False),
    _question("communication_modes", "How do you and your partner communicate?", "multiple_choice", COMMUNICATION_MODES),
    _question("communication_frequency", "How often are you in touch?", "single_choice",
              MEETING_FREQUENCIES + (("rarely", "Rarely"),)),
    _question("what_worked", "What has worked well?", "long_text", required=False),
    _question("what_to_change", "What should change?", "long_text", required=False),
    _question("take_part_again", "Would you take part in the program again?", "single_choice",
              (("yes", "Yes"), ("maybe", "Maybe"), ("no", "No"))),
    _question("satisfaction", "Overall, how satisfied are you with the program?", "single_choice",
              (("1", "1 (not at all)"), ("2", "2"), ("3", "3"), ("4", "4"), ("5", "5 (very)"))),
)

GUIDELINES = """\
# The Mentoring Program

## What is mentoring?

Mentoring helps people achieve professional goals through a mostly informal, mutually beneficial process of
information-sharing. Most often, a more experienced professional (the *mentor*) is paired with a less
experienced professional (the *mentee*). The mentee benefits from the experience and knowledge of the mentor,
and the mentor benefits from the fresh perspective of the mentee. A successful mentoring relationship is built
on respect, confidentiality, and an understanding that one can always learn something new.

## What is the purpose of the program?

The purpose of the Mentoring Program is to foster professional relationships and facilitate the exchange of
ideas between librarians. The program is also designed to help participants learn more about the association.

**What it is not:** a job search program, or an arbiter of workplace problems.

## Who can participate?

The only requirement for participation in the Mentoring Program is membership in the association.

All members are welcome to participate at any stage of their careers. For example, librarians who are new to
the state, support staff taking on new responsibilities, students interested in finding out more about the
profession, and experienced librarians moving into positions with increased administrative functions might all
find a mentoring program useful. Members at all levels of library experience are invited to share their
experiences and expand their professional reach.

## How does it work?

Mentors and mentees fill out an application. The Mentoring Committee partners mentors and mentees based on
library type and professional experience or goals. The availability of mentors and mentees and the information
provided on the applications determine the partnerships made. The committee introduces the mentor and mentee to
one another by email, and checks in periodically with the partners over the course of the program to be sure
things are running smoothly.

Meanwhile, the mentor and mentee are encouraged to contact each other and decide their preferences for
communication (email? phone? video? in person?) and how often to communicate. For example, monthly emails may
work best for some pairs. The program is meant to be flexible, and to be negotiated between the mentee and the
mentor to best suit their needs. Participants are encouraged to settle on a communication strategy, and on
their individual goals, early in the program.

At the end of the program, all participants are asked to take part in a program evaluation.

## Mentors

### Qualifications

- A member of the association
- Interested in using professional knowledge and experience to assist others in the profession

### Expectations

- Be actively involved for the duration of the program
- Communicate with your mentee regularly
- Help your mentee establish career-related goals, and help them develop a plan to achieve them
- Teach, listen, and advise
- Develop a relationship with your mentee built on courtesy, confidentiality, and respect
- Introduce your mentee to opportunities for service and professional development within the association
- Provide feedback to the Mentoring Committee at least once during the program

### Role

Coach, guide and advisor; sounding board; encourager; resource-sharer; devil's advocate; learner; active listener.

### Benefits

- Using your professional knowledge and experience to help someone else
- Enhancing your skills in coaching and advising
- Developing collegial relationships with other members of the association
- Professional pride
- A greater understanding of the professional challenges others experience in career transitions
- Exposure to new professional practices and ideas

## Mentees

### Qualifications

- A member of the association
- Interested in seeking professional knowledge and experience to advance your career

### Expectations

- Be actively involved for the duration of the program
- Communicate with your mentor regularly
- Establish career-related goals, and work with your mentor to develop a plan to achieve them
- Learn, listen, and ask for advice
- Be receptive to unique professional perspectives and solutions from your mentor
- Develop a relationship with your mentor built on courtesy, confidentiality, and respect
- Learn more about opportunities within the association
- Provide feedback to the Mentoring Committee at least once during the program

### Role

Director of the mentoring relationship; primary question-asker; action-taker; self-reflective; learner;
active listener.

### Benefits

- The opportunity to learn from your mentor's knowledge, experience, and perspective
- Help with your career goals
- Time for professional reflection and self-analysis
- A focus on problem-solving and communication skills
- Developing collegial relationships with other members of the association
- Exposure to new professional practices and ideas

## How much time is involved?

The program is a one-year commitment. In terms of weekly or monthly time, it is intended to bend to the needs
of the matched mentors and mentees: the time involved should be negotiated between mentor and mentee to be
mutually satisfactory. As a baseline we suggest communicating once a month, but some may find that more or less
contact is preferable.

## Who oversees the program? Whom can I contact with questions?

The Mentoring Committee is responsible for creating and updating application forms, program guidelines, and
other program content. The committee matches mentors and mentees, and evaluates the program at its conclusion
each year by collecting feedback.

If you ever feel the program isn't working for you, or you would like a different mentor, please don't
hesitate to contact the Mentoring Committee. We are here to help make the program responsive to your needs, and
all information is kept confidential.

## Mentoring resources

- Crumpton, Michael A. 2011. "Mentoring in Tough Financial Times." *Bottom Line: Managing Library Finances*
  24 (1): 51-54.
- Freedman, Shin. 2009. "Effective Mentoring." *IFLA Journal* 35 (2): 171-82.
- Garvin, David A., and Joshua A. Margolis. "[The Art of Giving and Receiving
  Advice](https://hbr.org/2015/01/the-art-of-giving-and-receiving-advice)." *Harvard Business Review*,
  January-February 2015.
- [Other mentoring programs within the American Library
  Association](http://www.ala.org/transforminglibraries/mentoring-opportunities)
"""


@lru_cache(maxsize=1)
def _defaults() -> dict:
    return {
        "interests": [{"value": value, "label": label, "retired": False} for value, label in INTERESTS],
        "questions": [],
        "mail": default_mail(),
        "schedule": lifecycle.Schedule().to_dict(),
        "feedback_questions": list(PROGRAM_QUESTIONS),
        "evaluation_questions": list(PROGRAM_QUESTIONS),
        "guidelines": GUIDELINES,
    }


def defaults() -> dict:
    """The settings of a cohort whose committee has changed nothing (a fresh copy)."""
    return copy.deepcopy(_defaults())


# --- What the rest of the system reads from a document -----------------------------

def question_field(question: Mapping, section: str = "questions") -> Field:
    kind = KINDS[question["kind"]]
    choices = tuple((choice["value"], choice["label"]) for choice in question.get("choices") or ())
    return Field(
        question["name"], question["label"], kind, required=bool(question.get("required")),
        roles=ASKED[question.get("asked", "both")], choices=choices, hint=question.get("hint") or "",
        max_length=LONG_TEXT_LENGTH if kind == "textarea" else SHORT_TEXT_LENGTH, section=section,
        numeric=kind == "choice" and bool(choices) and all(value.isdigit() for value, _ in choices),
        noun=f"an answer to \u201c{question['label']}\u201d",
    )


def application_fields(document: Mapping, include_retired: bool = False) -> tuple[Field, ...]:
    """The application form: the core fields, topics from the vocabulary (retired ones
    only when reading old answers) and the committee's questions, before the consent."""
    topics = tuple((topic["value"], topic["label"]) for topic in document["interests"]
                   if include_retired or not topic.get("retired"))
    core = [replace(field, choices=topics) if field.name == "interests" else field for field in FIELDS]
    asked = [question_field(question, SECTION_BY_ASKED[question.get("asked", "both")])
             for question in document["questions"]]
    consent_at = next(index for index, field in enumerate(core) if field.section == "consent")
    return tuple(core[:consent_at] + asked + core[consent_at:])


def response_fields(document: Mapping, part: str, role: str) -> tuple[Field, ...]:
    """The web form's questions for the feedback or the evaluation, as asked of `role`."""
    fields = (question_field(question) for question in document[part])
    return tuple(field for field in fields if role not in BOTH_ROLES or field.asks(role))


def schedule_of(document: Mapping) -> lifecycle.Schedule:
    return lifecycle.Schedule.from_dict(document["schedule"])


def matching_criteria(document: Mapping) -> tuple[matching.Criterion, ...]:
    """The built-in criteria (interests over the cohort's topics) and the committee's matching questions."""
    topics = {topic["value"]: topic["label"].lower() for topic in document["interests"]}
    built_in = tuple(matching.interests_criterion(topics, criterion.default_weight) if criterion.name == "interests"
                     else criterion for criterion in matching.CRITERIA)
    return built_in + tuple(
        matching.question_criterion(question["name"], question["label"],
                                    {choice["value"]: choice["label"] for choice in question["choices"]},
                                    question["matching"]["rule"], question["matching"]["weight"])
        for question in document["questions"] if question.get("matching"))


# --- Names the editors make from labels -------------------------------------------------

def name_from(label: str, taken, choice: bool = False) -> str:
    """A stable value for a new topic, question or choice: "Grant writing" -> "grant_writing"."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")[:32] or "item"
    if not (base[0].isalpha() or choice):
        base = f"q_{base}"[:32]
    name, number = base, 2
    while name in taken:
        name, number = f"{base}_{number}", number + 1
    return name


# --- Validation -------------------------------------------------------------------------

def validate(document: Any, previous: Mapping | None = None) -> dict:
    """The whole document checked and completed (missing mails and schedule entries take
    their defaults); or SettingsInvalid naming every problem by its location. With
    `previous` (the current version), topics it has may be retired but not removed."""
    errors: dict[str, str] = {}
    if not isinstance(document, dict):
        raise SettingsInvalid({"_body": "Send the settings as one JSON object with: " + ", ".join(PARTS) + "."})
    for key in document:
        if key not in PARTS and key not in META_KEYS:
            errors[str(key)] = f"Unknown part of the settings. The parts are: {', '.join(PARTS)}."
    clean: dict[str, Any] = {}
    checks = {"interests": _check_interests, "questions": _check_questions, "mail": _check_mail,
              "schedule": _check_schedule, "feedback_questions": _check_questions,
              "evaluation_questions": _check_questions, "guidelines": _check_guidelines}
    for part in PARTS:
        if part not in document:
            errors[part] = "This part is missing."
            continue
        clean[part] = checks[part](document[part], part, errors)
    if previous is not None and isinstance(clean.get("interests"), list):
        kept = {topic["value"] for topic in clean["interests"]}
        for topic in previous["interests"]:
            if topic["value"] not in kept:
                errors.setdefault("interests", f"The topic \u201c{topic['label']}\u201d was removed. Retire it "
                                               "instead, so that old applications keep it.")
    if errors:
        raise SettingsInvalid(errors)
    return clean


def _text(value: Any, location: str, errors: dict, limit: int, required: bool = True) -> str:
    if not isinstance(value, str):
        errors[location] = "Write this as text."
        return ""
    text = " ".join(value.split())
    if required and not text:
        errors[location] = "This cannot be empty."
    elif len(text) > limit:
        errors[location] = f"Keep this under {limit} characters (it has {len(text)})."
    return text


def _flag(value: Any, location: str, errors: dict) -> bool:
    if not isinstance(value, bool):
        errors[location] = "Use true or false."
        return False
    return value


def _name(value: Any, location: str, errors: dict, pattern: re.Pattern = NAME_PATTERN) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        errors[location] = ("Use a short name of lower-case letters, digits and underscores, "
                            "starting with a letter (like \u201cyears_in_role\u201d).")
        return ""
    return value


def _list(value: Any, location: str, errors: dict, most: int) -> list:
    if not isinstance(value, list):
        errors[location] = "Give a list."
        return []
    if len(value) > most:
        errors[location] = f"Give at most {most}."
        return []
    return value


def _object(value: Any, location: str, errors: dict, keys: Sequence[str]) -> dict | None:
    if not isinstance(value, dict):
        errors[location] = "Give an object."
        return None
    for key in value:
        if key not in keys:
            errors[f"{location}.{key}"] = f"Unknown setting. Use: {', '.join(keys)}."
    return value


def _check_interests(value: Any, part: str, errors: dict) -> list[dict]:
    topics = _list(value, part, errors, MAX_TOPICS)
    clean, seen = [], set()
    for index, item in enumerate(topics):
        at = f"{part}[{index}]"
        topic = _object(item, at, errors, ("value", "label", "retired"))
        if topic is None:
            continue
        value_name = _name(topic.get("value"), f"{at}.value", errors)
        if value_name in seen:
            errors[f"{at}.value"] = f"Another topic already has the value \u201c{value_name}\u201d."
        seen.add(value_name)
        clean.append({"value": value_name, "label": _text(topic.get("label"), f"{at}.label", errors, MAX_LABEL),
                      "retired": _flag(topic.get("retired", False), f"{at}.retired", errors)})
    if isinstance(value, list) and not any(not topic["retired"] for topic in clean):
        errors.setdefault(part, "Keep at least one topic that is not retired: applicants choose at least one.")
    return clean


def _check_questions(value: Any, part: str, errors: dict) -> list[dict]:
    questions = _list(value, part, errors, MAX_QUESTIONS)
    clean, seen = [], set()
    for index, item in enumerate(questions):
        at = f"{part}[{index}]"
        question = _object(item, at, errors, QUESTION_KEYS)
        if question is None:
            continue
        name = _name(question.get("name"), f"{at}.name", errors)
        if name in CORE_FIELDS and part == "questions":
            errors[f"{at}.name"] = f"\u201c{name}\u201d is one of the form's core fields, which always stay; use another name."
        elif name in RESERVED_NAMES and part == "questions" or name in ("who", "rematch"):
            errors[f"{at}.name"] = f"\u201c{name}\u201d is a name the system uses already; use another name."
        elif name in seen:
            errors[f"{at}.name"] = f"Another question already has the name \u201c{name}\u201d."
        seen.add(name)
        kind = question.get("kind")
        if kind not in KINDS:
            errors[f"{at}.kind"] = f"Use one of: {', '.join(KINDS)}."
        asked = question.get("asked", "both")
        if asked not in ASKED:
            errors[f"{at}.asked"] = f"Use one of: {', '.join(ASKED)}."
        required = _flag(question.get("required", False), f"{at}.required", errors)
        if kind == "yes_no" and required:
            errors[f"{at}.required"] = "A yes/no question is answered by ticking a box, so it cannot be required."
        clean.append({
            "name": name, "label": _text(question.get("label"), f"{at}.label", errors, MAX_LABEL),
            "kind": kind, "required": required, "asked": asked,
            "hint": _text(question.get("hint", ""), f"{at}.hint", errors, MAX_HINT, required=False),
            "choices": _check_choices(question.get("choices", []), kind, f"{at}.choices", errors),
            "matching": _check_matching(question.get("matching"), kind, asked, part, f"{at}.matching", errors),
        })
    return clean


def _check_choices(value: Any, kind: Any, at: str, errors: dict) -> list[dict]:
    if kind not in CHOICE_KINDS:
        if value not in ([], None):
            errors[at] = "Only single and multiple choice questions have choices."
        return []
    choices = _list(value, at, errors, MAX_CHOICES)
    if isinstance(value, list) and len(choices) < 2:
        errors[at] = "Give at least two choices."
    clean, values, labels = [], set(), set()
    for index, item in enumerate(choices):
        choice = _object(item, f"{at}[{index}]", errors, ("value", "label"))
        if choice is None:
            continue
        value_name = _name(choice.get("value"), f"{at}[{index}].value", errors, CHOICE_PATTERN)
        label = _text(choice.get("label"), f"{at}[{index}].label", errors, MAX_LABEL)
        if value_name in values or label.casefold() in labels:
            errors[f"{at}[{index}]"] = "Each choice must be different."
        values.add(value_name)
        labels.add(label.casefold())
        clean.append({"value": value_name, "label": label})
    return clean


def _check_matching(value: Any, kind: Any, asked: Any, part: str, at: str, errors: dict) -> dict | None:
    if value is None:
        return None
    if part != "questions":
        errors[at] = "Only application questions can drive matching."
        return None
    rule = _object(value, at, errors, ("rule", "weight"))
    if rule is None:
        return None
    if kind not in CHOICE_KINDS:
        errors[at] = "Only a single or multiple choice question can drive matching."
    elif asked != "both":
        errors[at] = "A question that drives matching must be asked of mentors and mentees."
    if rule.get("rule") not in RULES:
        errors[f"{at}.rule"] = f"Use {' or '.join(repr(name) for name in RULES)}."
    weight = rule.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
            or not 1 <= weight <= 100:
        errors[f"{at}.weight"] = "Give a weight from 1 to 100 (the built-in criteria weigh 10 to 30)."
        weight = 1
    return {"rule": rule.get("rule"), "weight": weight}


def _check_mail(value: Any, part: str, errors: dict) -> dict[str, dict[str, str]]:
    texts = _object(value, part, errors, tuple(MAILS))
    clean = dict(default_mail())
    for name, text in (texts or {}).items():
        if name not in MAILS:
            continue
        at = f"{part}.{name}"
        entry = _object(text, at, errors, ("subject", "body"))
        if entry is None:
            continue
        subject = _text(entry.get("subject"), f"{at}.subject", errors, MAX_SUBJECT)
        body = entry.get("body")
        if not isinstance(body, str) or not body.strip():
            errors[f"{at}.body"] = "Write the text of the mail."
            continue
        if len(body) > MAX_BODY:
            errors[f"{at}.body"] = f"Keep the mail under {MAX_BODY} characters."
            continue
        body = _normal_text(body)
        allowed = set(mail_sample(name))
        for piece, source in (("subject", subject), ("body", body)):
            problem = f"{at}.{piece}" not in errors and _template_problem(source, allowed, mail_sample(name))
            if problem:
                errors[f"{at}.{piece}"] = problem
        clean[name] = {"subject": subject, "body": body}
    return clean


SCHEDULE_LABELS = {
    "kickoff_day": "Kickoff check: days after the introduction",
    "checkin_every_days": "Check-ins: every so many days",
    "feedback_day": "Mid-program feedback: days after the introduction",
    "evaluation_day": "Evaluation: days after the introduction",
    "evaluation_reminder_days": "Evaluation reminders: days after the evaluation request",
    "close_after_days": "Closing: days after the evaluation request",
    "reply_window_days": "Days a participant has to answer a check-in",
    "silent_after": "Unanswered check-ins in a row before the committee is told",
}


def _check_schedule(value: Any, part: str, errors: dict) -> dict:
    entries = _object(value, part, errors, tuple(SCHEDULE_LABELS))
    if entries is None:
        return lifecycle.Schedule().to_dict()
    clean = {}
    for name, entry in entries.items():
        if name not in SCHEDULE_LABELS:
            continue
        numbers = entry if name == "evaluation_reminder_days" and isinstance(entry, list) else [entry]
        if name == "evaluation_reminder_days" and not isinstance(entry, list) or not all(
                type(number) is int and 1 <= number <= MAX_DAYS for number in numbers):
            what = "a list of whole numbers" if name == "evaluation_reminder_days" else "a whole number"
            errors[f"{part}.{name}"] = f"Give {what} from 1 to {MAX_DAYS}."
            continue
        clean[name] = entry
    if any(location.startswith(f"{part}.") for location in errors):
        return lifecycle.Schedule().to_dict()
    try:
        return lifecycle.Schedule.from_dict(clean).to_dict()
    except ValueError as error:
        errors[part] = f"The schedule does not work: {str(error).capitalize()}."
        return lifecycle.Schedule().to_dict()


def _check_guidelines(value: Any, part: str, errors: dict) -> str:
    if not isinstance(value, str) or not value.strip():
        errors[part] = "Write the program guidelines (in Markdown)."
        return ""
    if len(value) > MAX_GUIDELINES:
        errors[part] = f"Keep the guidelines under {MAX_GUIDELINES} characters."
    return _normal_text(value) + "\n"

