"""Read the association's member roster from CSV, all or nothing.

The header is `membership_id,email,name[,expires]`. Every problem is
reported with its line number; a roster with any problem is refused whole.
Pure: no storage here.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from chalicelib.domain.limits import check_text
from chalicelib.domain.validation import EMAIL_PATTERN, Invalid

REQUIRED_COLUMNS = ("membership_id", "email", "name")
OPTIONAL_COLUMNS = ("expires",)
MAX_MEMBERS = 200_000  # a national association's whole membership


@dataclass(frozen=True)
class RosterRow:
    membership_id: str
    email: str
    name: str
    expires: date | None


class RosterInvalid(Invalid):
    """The roster was not loaded; `problems` lists each line's problem."""

    def __init__(self, problems: list[str]):
        super().__init__({"_body": "The roster was not loaded.", "lines": problems})
        self.problems = problems


def decode_spreadsheet_export(raw: bytes, field: str = "roster") -> str:
    """A spreadsheet export: UTF-8 (with or without a byte-order mark), else Windows' own encoding;
    text that cannot be kept (a NUL, a control character) is refused as `field`'s problem."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    return check_text(text, field)


def normalise_membership_id(value: str) -> str:
    return "".join(value.split()).upper()


def parse_roster(text: str) -> list[RosterRow]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a byte-order mark
    rows, problems = [], []
    try:
        _read_rows(reader, rows, problems)
    except csv.Error:  # a value over csv's 128 KB limit, or a quote never closed: nothing after it can be read
        problems.append(f"Line {reader.line_num}: this line cannot be read as CSV "
                        "(a value far too long, or a quotation mark that is never closed).")
    if len(rows) > MAX_MEMBERS:
        problems.append(f"The roster has {len(rows)} members; at most {MAX_MEMBERS} can be loaded at once.")
    if problems:
        raise RosterInvalid(problems)
    return rows


def _read_rows(reader, rows: list[RosterRow], problems: list[str]) -> None:
    header = [column.strip().lower() for column in next(reader, [])]
    if tuple(header[:3]) != REQUIRED_COLUMNS or not set(header[3:]) <= set(OPTIONAL_COLUMNS):
        raise RosterInvalid(["Line 1: the header must be membership_id,email,name and optionally expires."])
    seen: dict[str, int] = {}
    for line_number, values in enumerate(reader, start=2):
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            problems.append(f"Line {line_number}: expected {len(header)} columns, found {len(values)}.")
            continue
        record = dict(zip(header, (value.strip() for value in values)))
        membership_id = normalise_membership_id(record["membership_id"])
        problem = _problem_with(record, membership_id)
        if problem:
            problems.append(f"Line {line_number}: {problem}")
            continue
        if membership_id in seen:
            problems.append(f"Line {line_number}: membership number {membership_id} is also on line {seen[membership_id]}.")
            continue
        seen[membership_id] = line_number
        expires = date.fromisoformat(record["expires"]) if record.get("expires") else None
        rows.append(RosterRow(membership_id, record["email"].lower(), record["name"], expires))


def _problem_with(record: dict[str, str], membership_id: str) -> str | None:
    if not membership_id or len(membership_id) > 40:
        return "the membership number is missing or longer than 40 characters."
    if not EMAIL_PATTERN.match(record["email"]):
        return f"'{record['email']}' is not an email address."
    if len(record["name"]) > 200:
        return "the name is longer than 200 characters."
    if record.get("expires"):
        try:
            date.fromisoformat(record["expires"])
        except ValueError:
            return f"the expiry date '{record['expires']}' is not a date like 2027-06-30."
    return None
