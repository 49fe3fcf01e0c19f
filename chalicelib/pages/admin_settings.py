"""The committee's program settings: the JSON API and an editor page for each part.

Reached only through app.py's committee guard. Every editor shows one part of
the cohort's settings document as a plain form; saving turns the form back
into that part and saves the whole document as a new version (see
settings_store.save). When something is wrong nothing is saved, and the form
comes back with what was typed and each problem beside its field.
"""
from __future__ import annotations

import re

from chalicelib.domain import mail_catalogue, settings_document, settings_validation
from chalicelib.services import mail, settings_store
from chalicelib.pages import web
from chalicelib.services.committee import Session
from chalicelib.adapters.models import Cohort
from chalicelib.adapters.store import cohort_or_open, required_cohort
from chalicelib.domain.settings_validation import SettingsInvalid
from chalicelib.domain.refusals import Conflict, Invalid, NotFound

MAX_SETTINGS_BYTES = 512 * 1024
# The editor pages, by the path they have under /admin/settings/, and the part each edits.
EDITORS = {
    "topics": ("interests", "Topics"),
    "questions": ("questions", "Application questions"),
    "mail": ("mail", "Mail texts"),
    "schedule": ("schedule", "Schedule"),
    "feedback": ("feedback_questions", "Feedback questions"),
    "evaluation": ("evaluation_questions", "Evaluation questions"),
    "guidelines": ("guidelines", "Program guidelines"),
}
QUESTION_EDITORS = ("questions", "feedback", "evaluation")
_LOCATION = re.compile(r"^(?P<part>\w+)(?:\[(?P<index>\d+)\])?(?:\.(?P<key>\w+))?")


def _no_cohort(session: Session) -> web.Answer:
    return web.admin_page("pages/admin/settings.html", session, status=404, cohort=None, saved=None, history=[],
                 editors=EDITORS, problem="No such cohort, and none is open.")


# --- The JSON API ------------------------------------------------------------------------

@web.json_route
def settings_json(query: dict) -> web.Answer:
    cohort = required_cohort(query.get("cohort"))
    number = query.get("version")
    if number is None:
        return web.json_answer(settings_store.current(cohort.id).as_json())
    if not _is_whole(number):
        raise Invalid("Give a version number.", field="version")
    try:
        return web.json_answer(settings_store.version(cohort.id, int(number)).as_json())
    except LookupError as error:
        raise NotFound(str(error), field="version") from None


@web.json_route
def settings_put(session: Session, query: dict, raw_body: bytes) -> web.Answer:
    """Replace the whole document. Its "version" (as GET gave it), when sent, must still be the current one."""
    cohort = required_cohort(query.get("cohort"))
    document = web.decode_json(raw_body, MAX_SETTINGS_BYTES)
    based_on = document.get("version") if isinstance(document, dict) else None
    if based_on is not None and (isinstance(based_on, bool) or not isinstance(based_on, int)):
        raise Invalid("Give the version you started from, as GET gave it.", field="version")
    return web.json_answer(settings_store.save(cohort.id, document, session.email, based_on).as_json())


# --- The overview ------------------------------------------------------------------------

def settings_page(session: Session, query: dict) -> web.Answer:
    cohort = cohort_or_open(query.get("cohort"))
    if cohort is None:
        return _no_cohort(session)
    saved = settings_store.current(cohort.id)
    return web.admin_page("pages/admin/settings.html", session, cohort=cohort, saved=saved, editors=EDITORS,
                 program=settings_document, history=settings_store.history(cohort.id), changed_mail=[
                     name for name in mail_catalogue.MAILS if mail_catalogue.edited_mail(saved.document, name)])


# --- The editors -------------------------------------------------------------------------

@web.html_route
def editor_page(session: Session, editor: str, query: dict) -> web.Answer:
    if editor not in EDITORS or editor == "mail" and query.get("mail") not in (None, *mail_catalogue.MAILS):
        raise NotFound("There is no such settings page.")
    cohort = cohort_or_open(query.get("cohort"))
    if cohort is None:
        return _no_cohort(session)
    saved = settings_store.current(cohort.id)
    flash = f"Saved as version {query['saved']}." if query.get("saved", "").isdigit() else ""
    mail_name = query.get("mail") if editor == "mail" else None
    return _editor(session, editor, cohort, saved, _rows(editor, saved.document, mail_name), {}, flash=flash,
                   mail_name=mail_name)


@web.html_route
def editor_form(session: Session, editor: str, raw_body: bytes) -> web.Answer:
    if editor not in EDITORS:
        raise NotFound("There is no such settings page.")
    form = web.decode_form(raw_body, MAX_SETTINGS_BYTES)
    cohort = cohort_or_open(_first(form, "cohort"))
    if cohort is None:
        return _no_cohort(session)
    saved = settings_store.current(cohort.id)
    mail_name = _first(form, "mail") if editor == "mail" else None
    if editor == "mail" and mail_name not in mail_catalogue.MAILS:
        raise NotFound("There is no such mail.")
    action = _first(form, "action") or "save"
    rows = _rows_from_form(editor, form)
    if editor == "mail" and action == "reset":
        rows = dict(mail_catalogue.default_mail()[mail_name])
    if editor == "mail" and _first(form, "insert"):
        return _editor(session, editor, cohort, saved, _inserted(mail_name, rows, _first(form, "insert")), {},
                       mail_name=mail_name, flash="The placeholder is at the end of the text; nothing is saved yet.")
    part, positions = _part_from_rows(editor, rows, saved.document, mail_name)
    document = {**saved.document, EDITORS[editor][0]: part}
    if action == "preview":
        return _preview(session, editor, cohort, saved, rows, document, positions, mail_name)
    version = _first(form, "version")
    try:
        new = settings_store.save(cohort.id, document, session.email, int(version) if _is_whole(version) else None)
    except SettingsInvalid as invalid:
        return _editor(session, editor, cohort, saved, rows, _errors_by_row(invalid.errors, positions), status=400,
                       mail_name=mail_name)
    except Conflict as refusal:
        return _editor(session, editor, cohort, saved, rows, {}, status=web.status_of(refusal), problem=refusal.message,
                       mail_name=mail_name)
    mail_query = f"&mail={mail_name}" if mail_name else ""
    return web.redirect(f"/admin/settings/{editor}?cohort={cohort.id}{mail_query}&saved={new.version}")


def _editor(session: Session, editor: str, cohort: Cohort, saved: settings_store.Saved, rows, errors: dict,
            status: int = 200, mail_name: str | None = None, **context) -> web.Answer:
    part, title = EDITORS[editor]
    template = "questions" if editor in QUESTION_EDITORS else editor
    return web.admin_page(f"pages/admin/settings_{template}.html", session, status=status, editor=editor, part=part,
                 title=title, cohort=cohort, saved=saved, rows=rows, errors=errors, mail_name=mail_name,
                 program=settings_document, catalogue=mail_catalogue, **{"preview": None, **context})


def _preview(session: Session, editor: str, cohort: Cohort, saved: settings_store.Saved, rows, document: dict,
             positions: list[int], mail_name: str | None) -> web.Answer:
    """Show the typed guidelines or mail as they would appear, with sample data; nothing is saved."""
    try:
        clean = settings_validation.validate(document)
    except SettingsInvalid as invalid:
        return _editor(session, editor, cohort, saved, rows, _errors_by_row(invalid.errors, positions), status=400,
                       mail_name=mail_name)
    if editor == "mail":
        preview = _mail_previews(mail_name, mail_catalogue.edited_mail(clean, mail_name))
    else:
        preview = settings_document.guidelines_html(clean["guidelines"])
    return _editor(session, editor, cohort, saved, rows, {}, mail_name=mail_name, preview=preview,
                   flash="This is a preview: nothing is saved yet.")


def _mail_previews(mail_name: str, edited: dict | None) -> list[dict]:
    """The mail as each variant's recipient gets it (one for most mails): subject, text part, and
    the HTML part's body, made as sending makes them (the system's own, for an unedited text)."""
    entry = mail_catalogue.MAILS[mail_name]
    variants = entry.split.variants if entry.split else (("", ""),)
    shown = []
    for value, label in variants:
        subject, body, html = mail.rendered(mail_name, edited, mail_catalogue.mail_sample(mail_name, value))
        shown.append({"label": label, "subject": subject, "text": body,
                      "html": html[html.index("<body"):html.rindex("</body>")].split(">", 1)[1]})
    return shown


def _inserted(mail_name: str, rows: dict, choice: str) -> dict:
    """The form's texts with the chosen placeholder added at the end of the chosen field."""
    field, _, placeholder = choice.partition(":")
    if field not in mail_catalogue.MAILS[mail_name].fields() or placeholder not in mail_catalogue.placeholder_names(mail_name):
        raise Invalid("There is no such placeholder for this mail.", field="insert")
    return {**rows, field: f"{rows.get(field, '').rstrip()}\n\n{{{{ {placeholder} }}}}".lstrip()}


# --- Between the document and the forms ---------------------------------------------------
# `rows` is what a form shows: the part as text fields, exactly as typed when it comes back.

def _first(form: dict, name: str) -> str:
    return (form.get(name) or [""])[0]


def _rows(editor: str, document: dict, mail_name: str | None):
    part = EDITORS[editor][0]
    if editor == "topics":
        return [{"value": topic["value"], "label": topic["label"], "retired": topic["retired"]}
                for topic in document[part]] + [{"value": "", "label": "", "retired": False}]
    if editor in QUESTION_EDITORS:
        blank = {"name": "", "label": "", "kind": "short_text", "asked": "both", "required": False, "hint": "",
                 "choices": "", "rule": "", "weight": "10", "remove": False}
        return [{"name": question["name"], "label": question["label"], "kind": question["kind"],
                 "asked": question["asked"], "required": question["required"], "hint": question["hint"],
                 "choices": "\n".join(choice["label"] for choice in question["choices"]),
                 "rule": (question["matching"] or {}).get("rule", ""),
                 "weight": _number_text((question["matching"] or {}).get("weight", 10)), "remove": False}
                for question in document[part]] + [blank]
    if editor == "schedule":
        return {name: ", ".join(str(day) for day in value) if isinstance(value, list) else str(value)
                for name, value in document[part].items()}
    if editor == "mail":
        if not mail_name:
            return None
        text = document[part][mail_name]  # a text saved before its mail was split has one subject and body
        return {field: text.get(field, text.get(field.partition("_")[0], ""))
                for field in mail_catalogue.MAILS[mail_name].fields()}
    return {"guidelines": document[part]}


def _number_text(number) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _rows_from_form(editor: str, form: dict):
    if editor == "topics" or editor in QUESTION_EDITORS:
        count = int(_first(form, "rows")) if _is_whole(_first(form, "rows")) else 0
        keys = ("value", "label", "retired") if editor == "topics" else (
            "name", "label", "kind", "asked", "required", "hint", "choices", "rule", "weight", "remove")
        flags = ("retired", "required", "remove")
        return [{key: _first(form, f"row-{index}-{key}") == "yes" if key in flags else _first(form, f"row-{index}-{key}")
                 for key in keys} for index in range(min(count, 200))]
    if editor == "schedule":
        return {name: _first(form, name) for name in settings_document.SCHEDULE_LABELS}
    if editor == "mail":
        entry = mail_catalogue.MAILS.get(_first(form, "mail"))
        return {field: _first(form, field) for field in (entry.fields() if entry else ())}
    return {"guidelines": _first(form, "guidelines")}


def _part_from_rows(editor: str, rows, document: dict, mail_name: str | None):
    """The document part the form describes, and for list parts the form row of each item."""
    part = EDITORS[editor][0]
    if editor == "topics":
        items, positions = [], []
        taken = {row["value"] for row in rows if row["value"]}
        for index, row in enumerate(rows):
            if not row["value"] and not row["label"].strip():
                continue  # the empty "add a topic" row
            value = row["value"] or settings_document.name_from(row["label"], taken)
            taken.add(value)
            items.append({"value": value, "label": row["label"], "retired": row["retired"]})
            positions.append(index)
        return items, positions
    if editor in QUESTION_EDITORS:
        return _questions_from_rows(rows, {question["name"]: question for question in document[part]})
    if editor == "schedule":
        return {name: _schedule_value(name, text) for name, text in rows.items()}, []
    if editor == "mail":
        return {**document[part], mail_name: rows}, []
    return rows["guidelines"], []


def _questions_from_rows(rows: list[dict], before: dict[str, dict]) -> tuple[list[dict], list[int]]:
    items, positions = [], []
    taken = set(before) | settings_document.RESERVED_NAMES
    for index, row in enumerate(rows):
        if row["remove"] or not row["name"] and not row["label"].strip() and not row["choices"].strip():
            continue  # removed, or the empty "add a question" row
        name = row["name"] or settings_document.name_from(row["label"], taken)
        taken.add(name)
        old_choices = {choice["label"].casefold(): choice["value"] for choice in before.get(name, {}).get("choices", [])}
        choices, values = [], set()
        for label in (line.strip() for line in row["choices"].splitlines()):
            if label:  # choices typed for a question of another kind are refused by validation, not dropped
                value = old_choices.get(label.casefold()) or settings_document.name_from(label, values, choice=True)
                values.add(value)
                choices.append({"value": value, "label": label})
        matching = None
        if row["rule"]:
            weight = row["weight"].strip()
            matching = {"rule": row["rule"], "weight": (int(weight) if _is_whole(weight) else float(weight))
                        if _is_number(weight) else weight}
        items.append({"name": name, "label": row["label"], "kind": row["kind"], "asked": row["asked"],
                      "required": row["required"], "hint": row["hint"], "choices": choices, "matching": matching})
        positions.append(index)
    return items, positions


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9]{1,9}(\.[0-9]{1,9})?", text))


def _is_whole(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes "²", which int() refuses."""
    return bool(re.fullmatch(r"[0-9]{1,9}", text))


def _schedule_value(name: str, text: str):
    if name == "evaluation_reminder_days":
        days = [day for day in re.split(r"[\s,;]+", text.strip()) if day]
        return [int(day) if _is_whole(day) else day for day in days]
    return int(text.strip()) if _is_whole(text.strip()) else text


def _errors_by_row(errors: dict[str, str], positions: list[int]) -> dict:
    """Errors keyed as the forms show them: "row-3-label" for an item's field, the setting's
    name for the schedule ("kickoff_day"), "subject"/"body" for a mail, else the location."""
    shown = {}
    for location, message in errors.items():
        found = _LOCATION.match(location)
        index, key = found["index"], found["key"]
        if index is not None and int(index) < len(positions):
            field = key if key in ("label", "kind", "asked", "required", "hint", "choices", "name", "value",
                                   "retired") else "rule" if key == "matching" else "label"
            if key == "matching" and location.endswith(".weight"):
                field = "weight"
            shown.setdefault(f"row-{positions[int(index)]}-{field}", message)
        elif found["part"] == "mail" and location.rsplit(".", 1)[-1].partition("_")[0] in ("subject", "body"):
            shown.setdefault(location.rsplit(".", 1)[-1], message)
        elif found["part"] == "schedule" and key:
            shown.setdefault(key, message)
        else:
            shown.setdefault(location, message)
    return shown
