"""CSV exports of a cohort's applications, pairings and responses, for the committee.

Column names come from where the data is declared: the application form's
fields (schema.FIELDS), the committee's own questions and its feedback and
evaluation questions (the cohort's program settings), then any other answer
the records hold. Applicants type free text, and a spreadsheet runs
a cell that starts with =, +, - or @ as a formula: such cells (and ones that
start with a tab or carriage return) get a leading apostrophe.
The file starts with a UTF-8 byte-order mark so spreadsheet programs read
accented names correctly.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping

from chalicelib.adapters.store import cohort_applications, required_cohort
from chalicelib.domain.schema import FIELDS
from chalicelib.pages import web
from chalicelib.services import settings_store
from chalicelib.services.applications import application_record, response_record
from chalicelib.services.pairings import cohort_pairings, pairing_record
from chalicelib.services.report import cohort_responses

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
LIST_SEPARATOR = "; "

APPLICATION_COLUMNS = ("id", "cohort", "role", "status", "email_confirmed", "created_at")
# Every form field by its name; "role" is already among the leading columns.
APPLICATION_FIELD_COLUMNS = tuple(field.name for field in FIELDS if field.name not in APPLICATION_COLUMNS)
PAIRING_COLUMNS = ("id", "cohort", "mentor_id", "mentee_id", "mentor_name", "mentee_name", "state",
                   "introduced_at", "last_contact_at", "flags", "next_due", "next_due_at")
RESPONSE_COLUMNS = ("pairing_id", "participant", "kind", "rating", "source", "at", "text")


def answer_columns(known: Iterable[str], answers: Iterable[Mapping | None]) -> tuple[str, ...]:
    """The known answer columns, then any other answer the records hold (a question
    the committee has since removed, say), so an export never leaves an answer out."""
    columns = list(dict.fromkeys(known))
    extra = sorted({name for answer in answers for name in (answer or {}) if name not in columns})
    return tuple(columns + extra)


def _question_names(parts: Iterable[str], cohort_id: str) -> list[str]:
    document = settings_store.of(cohort_id).document
    return [question["name"] for part in parts for question in document[part]]


def cell(value) -> str | int | float:
    """One value as a spreadsheet cell: lists joined, yes/no for booleans, formulas defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        value = LIST_SEPARATOR.join(str(item) for item in value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(columns: Iterable[str], rows: Iterable[Mapping]) -> str:
    columns = list(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(column)) for column in columns])
    return BOM + buffer.getvalue()


# Rows from plain records.

def application_rows(records: Iterable[Mapping]) -> list[dict]:
    """records: applications.application_record's dicts."""
    return [{**{name: value for name, value in record["answers"].items() if name not in APPLICATION_COLUMNS},
             **{name: record[name] for name in APPLICATION_COLUMNS}} for record in records]


def response_rows(records: Iterable[Mapping]) -> list[dict]:
    """records: applications.response_record's dicts."""
    return [{**{name: value for name, value in (record.get("answers") or {}).items() if name not in RESPONSE_COLUMNS},
             **{name: record.get(name) for name in RESPONSE_COLUMNS}} for record in records]


# Web answers.

def _attachment(body: str, kind: str, cohort_id: str) -> web.Answer:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", cohort_id).strip("-") or "cohort"
    return web.Answer(200, body, CSV_CONTENT_TYPE,
                      {"Content-Disposition": f'attachment; filename="{kind}-{safe}.csv"'})


@web.json_route
def applications_csv(query: Mapping) -> web.Answer:
    cohort = required_cohort(query.get("cohort"))
    records = sorted((application_record(a) for a in cohort_applications(cohort.id)),
                     key=lambda record: (record["role"], record["created_at"], record["id"]))
    columns = answer_columns([*APPLICATION_FIELD_COLUMNS, *_question_names(["questions"], cohort.id)],
                             [record["answers"] for record in records])
    return _attachment(to_csv(APPLICATION_COLUMNS + tuple(c for c in columns if c not in APPLICATION_COLUMNS),
                              application_rows(records)), "applications", cohort.id)


@web.json_route
def pairings_csv(query: Mapping) -> web.Answer:
    cohort = required_cohort(query.get("cohort"))
    return _attachment(to_csv(PAIRING_COLUMNS, [pairing_record(p) for p in cohort_pairings(cohort.id)]),
                       "pairings", cohort.id)


@web.json_route
def responses_csv(query: Mapping) -> web.Answer:
    cohort = required_cohort(query.get("cohort"))
    records = [response_record(r) for r in cohort_responses(cohort_pairings(cohort.id))]
    questions = answer_columns(_question_names(["feedback_questions", "evaluation_questions"], cohort.id),
                               [record.get("answers") for record in records])
    return _attachment(to_csv(RESPONSE_COLUMNS + tuple(q for q in questions if q not in RESPONSE_COLUMNS),
                              response_rows(records)), "responses", cohort.id)
