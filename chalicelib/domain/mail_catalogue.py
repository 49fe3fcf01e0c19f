"""Every mail the system sends: its title, when it is sent, its placeholders with
sample data, the system's own text (the files in templates/mail), and the jinja2
sandbox in which the committee's edited texts compile and render.

A committee template compiles and renders in templating's limited sandbox. It
is checked when it is saved (`template_problem`): it is refused if it does not
compile, names an unknown placeholder, reaches for Python internals, fails on
the sample data or goes past the sandbox's limits with the largest data the
form allows. The sandbox has no globals, only the mail's placeholders and a
few bounded filters, and jinja2 is imported on first use, not at module load.

Pure: nothing here imports chalice, boto3 or pynamodb, or does I/O beyond
reading the package's own mail templates.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from chalicelib.domain.templating import (OUTPUT_LIMIT, SUBJECT_LIMIT, TEMPLATE_DIR, TemplateLimit, committee_environment,
                                          committee_template, render, render_committee, within_part_limit, worst_case)


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


def normal_text(text: str) -> str:
    """A committee text as it is kept: Unix line ends and no trailing white space."""
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip()


@lru_cache(maxsize=1)
def default_mail() -> dict[str, dict[str, str]]:
    """The system's own subject and text of each mail: the files in templates/mail."""
    def source(name: str) -> str:
        return (TEMPLATE_DIR / "mail" / name).read_text(encoding="utf-8")

    return {name: {"subject": " ".join(source(f"{name}.subject.txt").split()),
                   "body": normal_text(source(f"{name}.txt"))} for name in MAILS}


def template_problem(source: str, sample: Mapping[str, Any], limit: int = OUTPUT_LIMIT) -> str | None:
    """Why a committee template cannot be used with the mail's placeholders (the sample's keys),
    or None: checked when it is saved, on the sample and on the worst case, so that it renders
    within its limits (`limit` bytes) when it is sent."""
    from jinja2 import TemplateSyntaxError, UndefinedError, meta, nodes
    from jinja2.exceptions import SecurityError

    env = committee_environment()
    try:
        tree = env.parse(source)
        committee_template(source)
    except TemplateSyntaxError as error:
        return f"The template does not work (line {error.lineno}): {(error.message or '').rstrip('.')}."
    allowed = set(sample)
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
        for data in (sample, worst_case(sample)):
            render_committee(committee_template(source), data, limit)
    except TemplateLimit as reached:
        return too_large(reached)
    except SecurityError:
        return "The template tries to reach something templates may not use."
    except UndefinedError as error:
        missing = re.search(r"has no attribute '([^']*)'", error.message or "")
        what = f"\u201c{missing.group(1)}\u201d" if missing else (error.message or "").rstrip(".")
        return f"The template uses something the mail does not have: {what}."
    except Exception as error:  # noqa: BLE001 - any failure on the sample data refuses the template
        return f"The template fails with the sample data: {error}."
    return None


def too_large(reached: TemplateLimit) -> str:
    return f"With the longest names and texts the form allows, {reached}. Shorten it, or use fewer loops."


def render_mail(name: str, text: Mapping[str, str], context: Mapping[str, Any]) -> tuple[str, str, str]:
    """(subject, plain-text body, HTML body made from it) of a committee-edited mail, rendered in
    the sandbox within templating's limits (TemplateLimit past them)."""
    subject = " ".join(render_committee(committee_template(text["subject"]), context, SUBJECT_LIMIT).split())
    body = render_committee(committee_template(text["body"]), context)
    html = render("mail/_edited.html", subject=subject, paragraphs=paragraphs(body), **context)
    return subject, body, within_part_limit(html)


def edited_mail(document: Mapping, name: str) -> dict[str, str] | None:
    """The committee's subject and body of this mail, or None when it is the system's own."""
    text = document.get("mail", {}).get(name)
    return None if text is None or text == default_mail()[name] else text


def mail_preview(name: str, text: Mapping[str, str]) -> tuple[str, str, str]:
    return render_mail(name, text, mail_sample(name))


_LINK = re.compile(r"(https?://[^\s<>\"]+[^\s<>\".,;:!?)\]])")


def paragraphs(text: str) -> list[list[list[tuple[str, bool]]]]:
    """A plain-text body as paragraphs of lines of (text, is_link) pieces, for the HTML part."""
    blocks = [block for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]
    return [[[(piece, bool(_LINK.fullmatch(piece))) for piece in _LINK.split(line) if piece]
             for line in block.split("\n")] for block in blocks]
