"""The program content the committee owns: one settings document per cohort.

The document has seven parts:

- `interests`: the topic vocabulary, [{"value", "label", "retired"}]. A topic
  is renamed by changing its label (the value stays) and retired rather than
  removed: retired topics leave the form and stay readable on old answers.
- `questions`: the committee's own application questions (see QUESTION_KEYS).
  A choice question asked of both roles can drive matching, by "same" or
  "overlap" answers, with a weight; it then joins the built-in criteria.
- `mail`: {mail name: {"subject", "body"}} for every mail the system sends,
  in the template language with the mail's named placeholders (mail_catalogue).
- `schedule`: lifecycle.Schedule's fields.
- `feedback_questions`, `evaluation_questions`: the web form's questions for
  the mid-program feedback and the evaluation, shaped like `questions`.
- `guidelines`: the public program page (/program), in Markdown.

Here live the document's vocabulary, its defaults (the program description and
the system's own texts: templates/guidelines.md and templates/mail) and what
the rest of the system reads from a document: form fields, the schedule and
the matching criteria. settings_validation checks a document before it is saved.

Pure: nothing here imports chalice, boto3 or pynamodb, or does I/O beyond
reading the package's own templates.
"""
from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache

from chalicelib.domain import lifecycle, matching
from chalicelib.domain.mail_catalogue import default_mail
from chalicelib.domain.schema import BOTH_ROLES, COMMUNICATION_MODES, FIELDS, FIELDS_BY_NAME, INTERESTS, MEETING_FREQUENCIES, Field
from chalicelib.domain.templating import TEMPLATE_DIR

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
# The schedule's settings (lifecycle.Schedule), as the editor names them.
SCHEDULE_LABELS = {
    "kickoff_day": "Kickoff check: days after the introduction",
    "checkin_every_days": "Check-ins: every so many days",
    "feedback_day": "Mid-program feedback: days after the introduction",
    "evaluation_day": "Evaluation: days after the introduction",
    "evaluation_reminder_days": "Evaluation reminders: days after the evaluation request",
    "close_after_days": "Closing: days after the evaluation request",
    "reply_window_days": "Days a participant has to answer a check-in",
    "silent_after": "Unanswered check-ins in a row before the committee is told",
    "nudge_day": "Nudge, when nobody has answered the kickoff check: days after the introduction",
    "not_started_day": "Flag as not started, when still nobody has answered: days after the introduction",
}
SHORT_TEXT_LENGTH, LONG_TEXT_LENGTH = 200, 5000  # the form fields of text questions


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


@lru_cache(maxsize=1)
def _defaults() -> dict:
    return {
        "interests": [{"value": value, "label": label, "retired": False} for value, label in INTERESTS],
        "questions": [],
        "mail": default_mail(),
        "schedule": lifecycle.Schedule().to_dict(),
        "feedback_questions": list(PROGRAM_QUESTIONS),
        "evaluation_questions": list(PROGRAM_QUESTIONS),
        "guidelines": default_guidelines(),
    }


def defaults() -> dict:
    """The settings of a cohort whose committee has changed nothing (a fresh copy)."""
    return copy.deepcopy(_defaults())


# --- Guidelines ---------------------------------------------------------------------

@lru_cache(maxsize=1)
def default_guidelines() -> str:
    """The program description, as the /program page shows it until the committee changes it."""
    return (TEMPLATE_DIR / "guidelines.md").read_text(encoding="utf-8")


def guidelines_html(markdown: str):
    """The guidelines as HTML: Markdown rendered by markdown-it-py, then sanitised by nh3
    (scripts, styles, event handlers and javascript: links removed). Markup, safe to show."""
    import nh3
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    return Markup(nh3.clean(html))


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
