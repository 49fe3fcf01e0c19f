"""Checking a settings document before it is saved (see settings_document).

`validate` checks a whole document, completes it (missing mails and schedule
entries take their defaults) and names every problem by its location, as the
editors and the JSON API show it: "questions[2].choices", "mail.checkin.body",
"schedule.kickoff_day". Committee mail templates are checked in the sandbox
(mail_catalogue.template_problem).

Pure: nothing here imports chalice, boto3 or pynamodb.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.domain import lifecycle
from chalicelib.domain.refusals import Invalid
from chalicelib.domain.templating import OUTPUT_LIMIT, SUBJECT_LIMIT, TemplateLimit, worst_case
from chalicelib.domain.limits import MAX_TOPICS
from chalicelib.domain.mail_catalogue import (MAILS, default_mail, kept_problem, mail_sample, missing_placeholder,
                                              normal_text, render_mail, template_problem, too_large)
from chalicelib.domain.settings_document import (ASKED, CHOICE_KINDS, CORE_FIELDS, KINDS, META_KEYS, PARTS,
                                                 QUESTION_KEYS, RESERVED_NAMES, RULES, SCHEDULE_LABELS)

MAX_QUESTIONS = 40
MAX_CHOICES = 50
MAX_LABEL = 300
MAX_HINT = 500
MAX_SUBJECT = 300
MAX_BODY = 20_000
MAX_GUIDELINES = 100_000
MAX_DAYS = 1000
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # topics and questions
CHOICE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]{0,39}$")  # a choice may be a number: "1" to "5"


class SettingsInvalid(Invalid):
    """The document was refused; `errors` maps each problem's location to its message."""


def validate(document: Any, previous: Mapping | None = None) -> dict:
    """The whole document checked and completed (missing mails and schedule entries take
    their defaults); or SettingsInvalid naming every problem by its location. With
    `previous` (the current version), topics it has may be retired but not removed."""
    errors: dict[str, str] = {}
    if not isinstance(document, dict):
        raise SettingsInvalid({"_body": "Send the settings as one JSON object with: " + ", ".join(PARTS) + "."})
    for key in document:
        if key not in PARTS and key not in META_KEYS:
            errors[str(key) or "_body"] = f"Unknown part of the settings. The parts are: {', '.join(PARTS)}."
    clean: dict[str, Any] = {}
    for part in PARTS:
        if part not in document:
            errors[part] = "This part is missing."
            continue
        clean[part] = (_check_mail(document[part], part, errors, previous) if part == "mail"
                       else _CHECKS[part](document[part], part, errors))
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


def _one_of(value: Any, names: Mapping[str, Any]) -> bool:
    return isinstance(value, str) and value in names  # a list or object is refused, not hashed


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


def _objects(items: list, location: str, errors: dict, keys: Sequence[str]):
    """Each item of a list that is an object, with its location ("questions[2]")."""
    for index, item in enumerate(items):
        if (checked := _object(item, f"{location}[{index}]", errors, keys)) is not None:
            yield f"{location}[{index}]", checked


def _check_interests(value: Any, part: str, errors: dict) -> list[dict]:
    clean, seen = [], set()
    for at, topic in _objects(_list(value, part, errors, MAX_TOPICS), part, errors, ("value", "label", "retired")):
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
    clean, seen = [], set()
    for at, question in _objects(_list(value, part, errors, MAX_QUESTIONS), part, errors, QUESTION_KEYS):
        name = _question_name(question.get("name"), part, seen, f"{at}.name", errors)
        kind = question.get("kind")
        if not _one_of(kind, KINDS):
            errors[f"{at}.kind"] = f"Use one of: {', '.join(KINDS)}."
        asked = question.get("asked", "both")
        if not _one_of(asked, ASKED):
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


def _question_name(value: Any, part: str, seen: set[str], location: str, errors: dict) -> str:
    """Application questions must leave the form's own names alone; response questions only
    the names the response form uses itself (who, rematch)."""
    name = _name(value, location, errors)
    if name in CORE_FIELDS and part == "questions":
        errors[location] = f"\u201c{name}\u201d is one of the form's core fields, which always stay; use another name."
    elif (name in RESERVED_NAMES and part == "questions") or name in ("who", "rematch"):
        errors[location] = f"\u201c{name}\u201d is a name the system uses already; use another name."
    elif name in seen:
        errors[location] = f"Another question already has the name \u201c{name}\u201d."
    seen.add(name)
    return name


def _check_choices(value: Any, kind: Any, at: str, errors: dict) -> list[dict]:
    if kind not in CHOICE_KINDS:
        if value not in ([], None):
            errors[at] = "Only single and multiple choice questions have choices."
        return []
    choices = _list(value, at, errors, MAX_CHOICES)
    if isinstance(value, list) and len(choices) < 2:
        errors[at] = "Give at least two choices."
    clean, values, labels = [], set(), set()
    for choice_at, choice in _objects(choices, at, errors, ("value", "label")):
        value_name = _name(choice.get("value"), f"{choice_at}.value", errors, CHOICE_PATTERN)
        label = _text(choice.get("label"), f"{choice_at}.label", errors, MAX_LABEL)
        if value_name in values or label.casefold() in labels:
            errors[choice_at] = "Each choice must be different."
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
    if not _one_of(rule.get("rule"), RULES):
        errors[f"{at}.rule"] = f"Use {' or '.join(repr(name) for name in RULES)}."
    weight = rule.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
            or not 1 <= weight <= 100:
        errors[f"{at}.weight"] = "Give a weight from 1 to 100 (the built-in criteria weigh 10 to 30)."
        weight = 1
    return {"rule": rule.get("rule"), "weight": weight}


def _check_mail(value: Any, part: str, errors: dict, previous: Mapping | None = None) -> dict[str, dict[str, str]]:
    """Each mail's fields checked in the sandbox. A text saved before its mail was split by role or
    outcome (one "subject", one "body") becomes each variant's; a text must keep the mail's kept
    placeholders, unless it is the very text saved before (it was accepted then, and still works)."""
    texts = _object(value, part, errors, tuple(MAILS))
    clean = dict(default_mail())
    saved_before = (previous or {}).get("mail", {})
    for name, text in (texts or {}).items():
        if name not in MAILS:
            continue
        at, mail = f"{part}.{name}", MAILS[name]
        entry = _object(text, at, errors, (*mail.fields(), "subject", "body"))
        if entry is None:
            continue
        kept_text = {}
        for field in mail.fields():
            piece = field.partition("_")[0]
            source = entry.get(field, entry.get(piece))
            location = f"{at}.{field}"
            if piece == "subject":
                kept_text[field] = _text(source, location, errors, MAX_SUBJECT)
            elif not isinstance(source, str) or not source.strip():
                errors[location] = "Write the text of the mail."
            elif len(source) > MAX_BODY:
                errors[location] = f"Keep the mail under {MAX_BODY} characters."
            else:
                kept_text[field] = normal_text(source)
        sample = mail_sample(name)
        before = saved_before.get(name) or {}
        for field, source in kept_text.items():
            variant_sample = mail_sample(name, field.partition("_")[2]) if "_" in field else sample
            limit = SUBJECT_LIMIT if field.startswith("subject") else OUTPUT_LIMIT
            problem = f"{at}.{field}" not in errors and template_problem(source, variant_sample, limit)
            if not problem and field.startswith("body") and source != before.get(field, before.get("body")):
                missing = missing_placeholder(name, source)
                problem = missing and kept_problem(missing)
            if problem:
                errors[f"{at}.{field}"] = problem
        if len(kept_text) == len(mail.fields()) and not any(location.startswith(f"{at}.") for location in errors):
            try:  # the HTML part, made from the text, has its own limit
                render_mail(name, kept_text, worst_case(sample))
            except TemplateLimit as reached:
                errors[f"{at}.{mail.field_for('body', sample)}"] = too_large(reached)
        clean[name] = kept_text
    return clean


def _check_schedule(value: Any, part: str, errors: dict) -> dict:
    entries = _object(value, part, errors, tuple(SCHEDULE_LABELS))
    if entries is None:
        return lifecycle.Schedule().to_dict()
    clean = {}
    for name, entry in entries.items():
        if name not in SCHEDULE_LABELS:
            continue
        listed = name == "evaluation_reminder_days"
        numbers = entry if listed else [entry]
        if not isinstance(numbers, list) or not all(type(number) is int and 1 <= number <= MAX_DAYS
                                                    for number in numbers):
            what = "a list of whole numbers" if listed else "a whole number"
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
    return normal_text(value) + "\n"


_CHECKS = {"interests": _check_interests, "questions": _check_questions, "mail": _check_mail,
           "schedule": _check_schedule, "feedback_questions": _check_questions,
           "evaluation_questions": _check_questions, "guidelines": _check_guidelines}
