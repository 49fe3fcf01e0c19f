"""Read the association's member roster from CSV, all or nothing.

The header names the columns in any order, spelled as spreadsheets usually spell them
("Member ID", "E-mail", "Email address", "Name", or "First name" and "Last name", and
optionally "Expires"); `read_roster` says which column it used for what, so the committee
sees the mapping before anything is replaced. Columns it does not know are left out, and
said so. Every problem is reported with its line number; a roster with any problem is
refused whole. Pure: no storage here.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date

from chalicelib.domain.limits import check_text
from chalicelib.domain.validation import EMAIL_PATTERN, Invalid

MAX_MEMBERS = 200_000  # a national association's whole membership
# What each column is for, and the header spellings that name it (compared without case,
# spaces, dashes, dots or underscores: "E-mail" is "email", "Member ID" is "memberid").
COLUMNS = {
    "membership_id": ("Membership number", ("membershipid", "memberid", "membershipnumber", "membernumber",
                                            "membershipno", "memberno", "membership")),
    "email": ("Email address", ("email", "emailaddress", "mail", "mailaddress")),
    "name": ("Name", ("name", "fullname", "membername")),
    "first_name": ("First name", ("firstname", "givenname", "forename")),
    "last_name": ("Last name", ("lastname", "surname", "familyname")),
    "expires": ("Membership expires", ("expires", "expiry", "expirydate", "expireson", "expiration",
                                      "expirationdate", "validuntil")),
}
_SPELLINGS = {spelling: column for column, (_, spellings) in COLUMNS.items() for spelling in spellings}


@dataclass(frozen=True)
class RosterRow:
    membership_id: str
    email: str
    name: str
    expires: date | None


@dataclass(frozen=True)
class RosterRead:
    rows: list[RosterRow]
    mapping: list[tuple[str, str]]  # (the header as written, what it was used for, or "not used")


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


def _columns_of(header: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    used: dict[str, int] = {}
    mapping = []
    for index, written in enumerate(header):
        column = _SPELLINGS.get(re.sub(r"[\s\-_.]", "", written.lower()))
        if column is None or column in used:
            mapping.append((written.strip(), "not used"))
            continue
        used[column] = index
        mapping.append((written.strip(), COLUMNS[column][0]))
    missing = [COLUMNS[column][0] for column in ("membership_id", "email") if column not in used]
    if "name" not in used and "first_name" not in used:
        missing.append("Name (or First name and Last name)")
    if missing:
        raise RosterInvalid([f"Line 1: no column for {' or '.join(missing)}. The header needs the membership "
                             "number, the email address and the name, such as "
                             "\u201cMember ID, E-mail, First name, Last name\u201d or \u201cmembership_id,email,name\u201d."])
    return used, mapping


def parse_roster(text: str) -> list[RosterRow]:
    return read_roster(text).rows


def read_roster(text: str) -> RosterRead:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a byte-order mark
    rows: list[RosterRow] = []
    problems: list[str] = []
    mapping: list[tuple[str, str]] = []
    try:
        mapping = _read_rows(reader, rows, problems)
    except csv.Error:  # a value over csv's 128 KB limit, or a quote never closed: nothing after it can be read
        problems.append(f"Line {reader.line_num}: this line cannot be read as CSV "
                        "(a value far too long, or a quotation mark that is never closed).")
    if len(rows) > MAX_MEMBERS:
        problems.append(f"The roster has {len(rows)} members; at most {MAX_MEMBERS} can be loaded at once.")
    if problems:
        raise RosterInvalid(problems)
    return RosterRead(rows, mapping)


def _read_rows(reader, rows: list[RosterRow], problems: list[str]) -> list[tuple[str, str]]:
    header = next(reader, [])
    if not any(column.strip() for column in header):
        raise RosterInvalid(["Line 1: the file is empty, or its first line is not a header."])
    used, mapping = _columns_of(header)
    seen: dict[str, int] = {}
    for line_number, values in enumerate(reader, start=2):
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            problems.append(f"Line {line_number}: expected {len(header)} columns, found {len(values)}.")
            continue
        record = {column: values[index].strip() for column, index in used.items()}
        record["name"] = record.get("name") or " ".join(
            part for part in (record.get("first_name", ""), record.get("last_name", "")) if part)
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
    return mapping


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
