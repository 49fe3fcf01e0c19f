"""The public application pages: the form, its JSON twin, the confirmation link, the program."""
from __future__ import annotations

from chalicelib.adapters.config import settings
from chalicelib.adapters.store import open_cohort
from chalicelib.domain import settings_document, tokens
from chalicelib.domain.refusals import Refused
from chalicelib.domain.validation import from_json
from chalicelib.pages import web
from chalicelib.services import carry_over, intake, settings_store
from chalicelib.services.intake import ApplicationsClosed


def _form_page(status: int, values: dict, errors: dict, closed: bool | None = None) -> web.Answer:
    """The application form as the open cohort's settings make it; closed when no cohort is open."""
    cohort = open_cohort()
    fields = settings_document.application_fields(settings_store.for_cohort(cohort).document)
    return web.page("pages/apply.html", status=status, values=values, errors=errors,
                    closed=cohort is None if closed is None else closed, fields=fields)


def carry_over_page(token: str) -> web.Answer:
    """An invitation to a new cohort: one page, two buttons (a mail scanner's GET changes nothing)."""
    try:
        old, cohort = carry_over.read_invitation(token)
    except Refused as refusal:
        return web.page("pages/confirm_failed.html", status=web.status_of(refusal), reason=refusal.message)
    return web.page("pages/carry_over.html", token=token, person_name=old.answers.get("name", ""), role=old.role,
                    cohort_name=cohort.name, answered="")


def carry_over_answer(token: str, raw_body: bytes) -> web.Answer:
    """Yes: the old application, copied into the new cohort, shown in the form to check and send again
    if anything changed (it counts once its address is confirmed). No: a thank-you."""
    try:
        old, cohort = carry_over.read_invitation(token)
        yes = web.decode_form(raw_body).get("answer", [""])[0] == "yes"
        copied = carry_over.answer(token, yes)
    except Refused as refusal:
        return web.page("pages/confirm_failed.html", status=web.status_of(refusal), reason=refusal.message)
    if copied is None:
        return web.page("pages/carry_over.html", token=token, person_name=old.answers.get("name", ""), role=old.role,
                        cohort_name=cohort.name, answered="no")
    values = {name: [str(v) for v in value] if isinstance(value, list) else [str(value)]
              for name, value in copied.answers.items() if value not in (None, "")}
    return _form_page(200, values, {}, closed=False)


def apply_page() -> web.Answer:
    return _form_page(200, {}, {})


def apply_with_form(raw_body: bytes) -> web.Answer:
    submitted: dict = {}
    try:
        submitted = web.decode_form(raw_body)
        intake.submit(submitted)
    except ApplicationsClosed as refusal:
        return _form_page(web.status_of(refusal), submitted, {}, closed=True)
    except Refused as refusal:
        return _form_page(web.status_of(refusal), submitted, refusal.errors, closed=False)
    return web.redirect("/apply/thanks")


@web.json_route
def apply_with_json(raw_body: bytes) -> web.Answer:
    application = intake.submit(from_json(web.decode_json(raw_body)))
    return web.json_answer({"id": application.id, "status": application.status}, status=201)


def confirm_page(token: str) -> web.Answer:
    try:
        application = intake.confirm(token)
    except tokens.TokenError as error:
        return web.page("pages/confirm_failed.html", status=web.status_of(error), reason=str(error))
    return web.page("pages/confirmed.html", status=200, application=application.answers, status_name=application.status)


def thanks_page() -> web.Answer:
    return web.page("pages/thanks.html", status=200)


def program_page() -> web.Answer:
    """The public program page: the open cohort's guidelines, Markdown made safe HTML."""
    guidelines = settings_document.guidelines_html(settings_store.for_open_cohort().document["guidelines"])
    return web.page("pages/program.html", guidelines=guidelines, committee_address=settings().committee_address)
