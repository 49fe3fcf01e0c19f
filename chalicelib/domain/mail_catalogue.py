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

from urllib.parse import quote

from chalicelib.domain.plain_words import day_in_words
from chalicelib.domain.templating import (OUTPUT_LIMIT, SUBJECT_LIMIT, TEMPLATE_DIR, TemplateLimit, committee_environment,
                                          committee_template, library_type_label, render, render_committee,
                                          within_part_limit, worst_case)


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
_LETTER = {"outcome": "completed", "year": "2026\u20132027", "started_on": "2026-01-15", "ended_on": "2027-02-14"}


@dataclass(frozen=True)
class Split:
    """A mail whose subject (and, with pieces=("subject", "body"), text) differs by one value of its
    data: the editor shows one field for each variant, so no text needs an if or an else."""
    key: str  # the placeholder that decides: "role", "outcome"
    variants: tuple[tuple[str, str], ...]  # (value, what the editor calls it); the last takes any other value
    pieces: tuple[str, ...] = ("subject",)

    def variant_of(self, context: Mapping[str, Any]) -> str:
        values = [value for value, _ in self.variants]
        return context.get(self.key) if context.get(self.key) in values else values[-1]


BY_ROLE = Split("role", (("mentor", "to mentors"), ("mentee", "to mentees")))


@dataclass(frozen=True)
class MailText:
    title: str  # what the editor calls it
    sent: str  # when it is sent, in a sentence
    sample: Mapping[str, Any]  # its placeholders, each with sample data for the preview and the save-time check
    keeps: tuple[str, ...] = ()  # placeholders its text must keep, or the mail stops working (see KEPT_PLACEHOLDERS)
    split: Split | None = None

    def fields(self) -> tuple[str, ...]:
        """The editor's fields: "subject" and "body", or one per variant ("subject_mentor", ...)."""
        return tuple(f"{piece}_{value}" if self.split and piece in self.split.pieces else piece
                     for piece in ("subject", "body")
                     for value in ([value for value, _ in self.split.variants]
                                   if self.split and piece in self.split.pieces else [""]))

    def field_for(self, piece: str, context: Mapping[str, Any]) -> str:
        return f"{piece}_{self.split.variant_of(context)}" if self.split and piece in self.split.pieces else piece

    def label_of(self, field: str) -> str:
        piece, _, value = field.partition("_")
        what = "Subject" if piece == "subject" else "Text"
        return f"{what} {dict(self.split.variants)[value]}" if value else what


MAILS: dict[str, MailText] = {
    "confirm_application": MailText("Application confirmation", "to an applicant, to confirm their email address",
                                    {"application": _SAMPLE_MENTEE, "confirm_token": "SAMPLE-TOKEN"},
                                    keeps=("confirm_link",)),
    "application_withdrawn": MailText("Application withdrawn", "to an applicant whose application the committee withdraws",
                                      {"application": _SAMPLE_MENTEE}),
    "application_restored": MailText("Withdrawal undone", "to an applicant, when the committee undoes the withdrawal "
                                     "of their application", {"application": _SAMPLE_MENTEE}),
    "carry_over_invitation": MailText("Invitation to a new year", "to an earlier participant, when the committee invites them into a new cohort",
                                      {"person_name": "Jo Reader", "role": "mentee", "cohort_name": "2028 program year",
                                       "token": "SAMPLE-TOKEN"}),
    "sign_in": MailText("Committee sign-in link", "to a committee member who asks to sign in",
                        {"sign_in_token": "SAMPLE-TOKEN", "return_to": ""}, keeps=("sign_in_link",)),
    "introduction": MailText("Introduction", "to a new pair, when the committee approves it",
                             {"mentor": _SAMPLE_MENTOR, "mentee": _SAMPLE_MENTEE}),
    "kickoff_check": MailText("Kickoff check", "to each partner, some days after the introduction", _TO_MENTEE,
                              keeps=("answer_link", "reply_instructions")),
    "kickoff_nudge": MailText("Kickoff nudge", "to each partner, when nobody has answered the kickoff check",
                              _TO_MENTEE, keeps=("answer_link", "reply_instructions")),
    "checkin": MailText("Check-in", "to each partner, at every check-in interval",
                        {**_TO_MENTEE, "partner_goals": "The goals your mentor listed for the year:\n- Share what I have "
                                                        "learned about leading a small team."},
                        keeps=("answer_link", "reply_instructions"), split=BY_ROLE),
    "feedback_request": MailText("Mid-program feedback request", "to each partner, on the feedback day", _TO_MENTEE,
                                 keeps=("answer_link",)),
    "evaluation_request": MailText("Evaluation request", "to each partner, on the evaluation day",
                                   {**_TO_MENTEE, "closes_at": _CLOSES_AT}, keeps=("answer_link",)),
    "evaluation_reminder": MailText("Evaluation reminder", "to a partner who has not answered the evaluation",
                                    {**_TO_MENTEE, "closes_at": _CLOSES_AT, "reminder": 1}, keeps=("answer_link",)),
    "pairing_closed": MailText("Partnership closed", "to each partner when a partnership completes or is closed",
                               {**_TO_MENTEE, "outcome": "completed"},
                               split=Split("outcome", (("completed", "when the year is complete"),
                                                       ("year_ended", "when the cohort closes with the pairing still live"),
                                                       ("ended", "when the pairing ends early")),
                                           pieces=("subject", "body"))),
    "exit_questions": MailText("Exit questions", "to each partner who did not leave of their own accord, when a "
                               "partnership is closed early", {**_TO_MENTEE, "outcome": "dissolved"},
                               keeps=("answer_link",)),
    "participation_letter_mentor": MailText(
        "Letter of service (mentor)", "to a mentor who took part, when their partnership completes the year",
        {**_TO_MENTEE, "role": "mentor", "participant": _PAIR["mentor"], **_LETTER}),
    "participation_letter_mentee": MailText(
        "Letter of participation (mentee)", "to a mentee who took part, when their partnership completes the year",
        {**_TO_MENTEE, **_LETTER}),
    "rematch_alert": MailText("Committee alert: a different partner", "to the committee, when someone asks for a different partner",
                              {**_PAIR, "asked_by": "mentee", "reason": "We cannot find a time that suits us both."}),
    "help_alert": MailText("Committee alert: need help", "to the committee, when someone answers \"need help\"",
                           {**_PAIR, "participant": "mentee", "about": "check-in", "text": "We have not managed to meet."}),
    "committee_digest": MailText("Committee digest", "to the committee, once a day when there is news",
                                 {"alerts": [{"text": "The pair has left 2 check-ins in a row unanswered.",
                                              "pairing_id": _PAIR["pairing_id"], "pair": "Jo Reader and Pat Rivera",
                                              "kind": "silent", "at": "2026-03-01"}],
                                  "concerns": [{"kind": "not_started", "pairing_id": _PAIR["pairing_id"],
                                                "summary": "Nobody in the pair has answered the kickoff check 28 "
                                                           "days after the introduction.",
                                                "pair": "Jo Reader and Pat Rivera", "opened_at": "2026-02-20",
                                                "liaison": "committee@example.org"}],
                                  "more_concerns": 0}),
    "address_undeliverable": MailText("Committee alert: undeliverable address", "to the committee, when mail to an address bounces",
                                      {"address": "jo.reader@example.org", "reason": "bounce", "detail": "General"}),
}
COMMON_PLACEHOLDERS = {"base_url": "https://mentoring.example.org", "committee_address": "committee@example.org"}
# The placeholders a mail cannot work without, and what each is, as the refusal names it.
KEPT_PLACEHOLDERS = {
    "answer_link": "the link to answer on the web",
    "reply_instructions": "how to answer by replying (1, 2 or 3, and that only the committee reads it)",
    "sign_in_link": "the sign-in link",
    "confirm_link": "the link that confirms the address",
}
# A saved text from before a kept placeholder existed spelled it out with this one instead.
_KEPT_BEFORE = {"answer_link": "respond_token", "sign_in_link": "sign_in_token", "confirm_link": "confirm_token"}
# Made for the texts from the mail's data (plain_placeholders), and what the editor says each is.
DERIVED_PLACEHOLDERS = {
    **KEPT_PLACEHOLDERS,
    "partner.name": "the other partner's name", "partner.email": "the other partner's address",
    "partner_role": "\u201cmentor\u201d or \u201cmentee\u201d: what the other partner is",
    "closes_on": "the day the evaluation closes", "pairing_link": "the pairing's page in the admin area",
    "what_they_wrote": "what they wrote, if anything", "news_list": "the list of news", "news_count": "how many",
    "open_concerns": "the concerns still open after a week",
    "what_happened": "what happened to the address", "mentee_goals": "the mentee's goals from the application",
    "partner_goals": "the goals the other partner listed for the year",
    "mentor.library_type_name": "the mentor's kind of library", "mentee.library_type_name": "the mentee's kind of library",
}
# Data the texts need not name: tokens are inside the links, and the rest has a plainer placeholder.
_NOT_LISTED = {"respond_token", "confirm_token", "sign_in_token", "return_to", "closes_at", "alerts", "role",
               "outcome", "reason", "detail", "reminder", "text", "more_concerns"}
REPLY_INSTRUCTIONS = """Just reply to this email, starting with:
  1 - going well
  2 - some concerns
  3 - need help
and tell us anything you like. Your answer reaches only the committee, never your partner."""


def plain_placeholders(context: Mapping[str, Any]) -> dict[str, Any]:
    """The mail's data with the plain placeholders made from it, so a text needs no expression:
    links instead of tokens, the partner instead of "mentee if role == 'mentor' else mentor",
    dates in words, and the sentences that depend on the data."""
    base, made = context.get("base_url", ""), {}
    if context.get("respond_token"):
        made["answer_link"] = f"{base}/respond/{context['respond_token']}"
        made["reply_instructions"] = REPLY_INSTRUCTIONS
    if context.get("confirm_token"):
        made["confirm_link"] = f"{base}/confirm/{context['confirm_token']}"
    if context.get("sign_in_token"):
        back = context.get("return_to")
        made["sign_in_link"] = f"{base}/admin/login/{context['sign_in_token']}" + (
            f"?next={quote(back, safe='/')}" if back else "")
    if context.get("pairing_id"):
        made["pairing_link"] = f"{base}/admin/pairings/{context['pairing_id']}"
    for role in ("mentor", "mentee"):
        person = context.get(role)
        if isinstance(person, Mapping) and "library_type" in person:
            made[role] = {**person, "library_type_name": library_type_label(person["library_type"])}
    role = context.get("role")
    if role in ("mentor", "mentee") and all(isinstance(context.get(r), Mapping) for r in ("mentor", "mentee")):
        made["partner_role"] = "mentee" if role == "mentor" else "mentor"
        made["partner"] = made.get(made["partner_role"], context[made["partner_role"]])
    if context.get("closes_at"):
        made["closes_on"] = day_in_words(str(context["closes_at"]))
    wrote = context.get("text", context.get("reason")) if ("text" in context or "reason" in context) else None
    if wrote is not None and ("asked_by" in context or "about" in context):
        made["what_they_wrote"] = f"What they wrote:\n{wrote}" if wrote else ""
    mentee = made.get("mentee", context.get("mentee"))
    if isinstance(mentee, Mapping) and "goals" in mentee:
        made["mentee_goals"] = f"{mentee['name']}'s goals for the program:\n  {mentee['goals']}" if mentee["goals"] else ""
    if isinstance(context.get("alerts"), list):
        alerts, open_concerns, more = context["alerts"], context.get("concerns") or [], context.get("more_concerns") or 0
        count = len(alerts) + len(open_concerns) + more
        made["news_count"] = f"{count} thing{'' if count == 1 else 's'}"
        made["news_list"] = "\n".join(
            f"- {alert['pair'] + ': ' if alert.get('pair') else ''}{alert['text']}"
            + (f"\n  {base}/admin/pairings/{alert['pairing_id']}" if alert.get("pairing_id") else "")
            for alert in alerts) or "- Nothing new."
        made["open_concerns"] = "\n".join(
            ["Concerns still open after a week, until someone marks them handled:"] + [
                f"- {concern['pair'] + ': ' if concern.get('pair') else ''}{concern['summary']} (opened "
                f"{concern['opened_at']}; liaison: {concern.get('liaison') or 'nobody yet'})"
                f"\n  {base}/admin/pairings/{concern['pairing_id']}" for concern in open_concerns]
            + ([f"and {more} more: see the dashboard, {base}/admin"] if more else [])
        ) if open_concerns else ""
    if "address" in context and "reason" in context:
        detail = f" ({context['detail']})" if context.get("detail") else ""
        made["what_happened"] = (
            f"The person at {context['address']} marked a mail from the mentoring program as spam{detail}."
            if context["reason"] == "complaint" else
            f"Mail to {context['address']} bounced: the receiving server says the address does not exist "
            f"or refuses our mail for good{detail}.")
    return {**context, **made}


def mail_sample(name: str, variant: str = "") -> dict[str, Any]:
    """The mail's sample data, for one variant of a split mail if named: a mail split by role
    goes to the person in that role, so the partner and their role follow from it."""
    mail = MAILS[name]
    sample = {**COMMON_PLACEHOLDERS, **mail.sample}
    if variant:
        sample[mail.split.key] = variant
        if mail.split.key == "role" and "participant" in sample:
            sample["participant"] = sample[variant]
    return plain_placeholders(sample)


def placeholder_names(name: str) -> list[str]:
    """The placeholders a mail may use, as the editor lists them: "mentor.name", "base_url", ...
    The ones it must keep come first."""
    listed = []
    for key, value in mail_sample(name).items():
        if key in _NOT_LISTED:
            continue
        if isinstance(value, Mapping):
            listed += [f"{key}.{part}" for part in value]
        elif not isinstance(value, list):
            listed.append(key)
    kept = MAILS[name].keeps
    return [*kept, *sorted((n for n in listed if n not in kept), key=lambda n: (n not in DERIVED_PLACEHOLDERS, n))]


def placeholder_hint(placeholder: str) -> str:
    return DERIVED_PLACEHOLDERS.get(placeholder, "")


def missing_placeholder(name: str, source: str) -> str | None:
    """The first placeholder this text of the mail must keep and does not (a saved text from
    before it existed may name the older one instead), or None."""
    from jinja2 import TemplateSyntaxError, meta

    try:
        used = meta.find_undeclared_variables(committee_environment().parse(source))
    except TemplateSyntaxError:
        return None  # template_problem says what is wrong with it
    return next((kept for kept in MAILS[name].keeps if kept not in used and _KEPT_BEFORE.get(kept) not in used), None)


def kept_problem(placeholder: str) -> str:
    return (f"Keep {{{{ {placeholder} }}}} in the text: it is {KEPT_PLACEHOLDERS[placeholder]}, "
            "and without it the mail does not work. Put it back (the list of placeholders can insert it).")


def normal_text(text: str) -> str:
    """A committee text as it is kept: Unix line ends and no trailing white space."""
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip()


@lru_cache(maxsize=1)
def default_mail() -> dict[str, dict[str, str]]:
    """The system's own subject and text of each mail: the files in templates/mail."""
    def source(name: str) -> str:
        return (TEMPLATE_DIR / "mail" / name).read_text(encoding="utf-8")

    return {name: {field: " ".join(source(file).split()) if field.startswith("subject") else normal_text(source(file))
                   for field in mail.fields() for file in [source_file(name, field)]} for name, mail in MAILS.items()}


def source_file(name: str, field: str) -> str:
    """The file in templates/mail holding the system's own text of one field: "checkin.subject.mentor.txt"."""
    piece, _, value = field.partition("_")
    return f"{name}{'.subject' if piece == 'subject' else ''}{'.' + value if value else ''}.txt"


def system_files(name: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """The files of the system's own subject and text for this mail and its data."""
    mail = MAILS[name]
    return source_file(name, mail.field_for("subject", context)), source_file(name, mail.field_for("body", context))


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
    the sandbox within templating's limits (TemplateLimit past them). A text saved before its mail
    was split by role or outcome has one "subject" and "body", used for every variant."""
    mail, context = MAILS[name], plain_placeholders(context)
    subject_source, body_source = (text.get(mail.field_for(piece, context), text.get(piece)) for piece in ("subject", "body"))
    subject = " ".join(render_committee(committee_template(subject_source), context, SUBJECT_LIMIT).split())
    body = tidy_text(render_committee(committee_template(body_source), context))
    html = render("mail/_edited.html", subject=subject, paragraphs=paragraphs(body), **context)
    return subject, body, within_part_limit(html)


def tidy_text(text: str) -> str:
    """A rendered text without the empty lines an empty placeholder leaves."""
    return re.sub(r"\n{3,}", "\n\n", text)


def edited_mail(document: Mapping, name: str) -> dict[str, str] | None:
    """The committee's subject and body of this mail, or None when it is the system's own."""
    text = document.get("mail", {}).get(name)
    return None if text is None or text == default_mail()[name] else text


_LINK = re.compile(r"(https?://[^\s<>\"]+[^\s<>\".,;:!?)\]])")


def paragraphs(text: str) -> list[list[list[tuple[str, bool]]]]:
    """A plain-text body as paragraphs of lines of (text, is_link) pieces, for the HTML part."""
    blocks = [block for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]
    return [[[(piece, bool(_LINK.fullmatch(piece))) for piece in _LINK.split(line) if piece]
             for line in block.split("\n")] for block in blocks]
