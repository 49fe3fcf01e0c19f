"""The committee's concerns: marking one handled, and naming a pairing's liaison.

Reached only through app.py's committee guard (which checks a form's CSRF token);
each function takes the signed-in member's Session.
"""
from __future__ import annotations

from chalicelib.domain.refusals import Invalid, Refused
from chalicelib.pages import admin_pairings, web
from chalicelib.services import concerns, pairings
from chalicelib.services.committee import Session


@web.json_route
def handled_json(session: Session, pairing_id: str, concern_id: str, raw_body: bytes) -> web.Answer:
    document = web.decode_json(raw_body)
    if not isinstance(document, dict):
        raise Invalid('Send {"note": "how the concern was handled"}.')
    return web.json_answer(concerns.mark_handled(session.email, pairing_id, concern_id, document.get("note")))


@web.html_route
def handled_form(session: Session, pairing_id: str, concern_id: str, raw_body: bytes) -> web.Answer:
    note = (web.decode_form(raw_body).get("note") or [""])[0]
    return _then_back(session, pairing_id, lambda: concerns.mark_handled(session.email, pairing_id, concern_id, note))


@web.html_route
def liaison_form(session: Session, pairing_id: str, raw_body: bytes) -> web.Answer:
    liaison = (web.decode_form(raw_body).get("liaison") or [""])[0]
    return _then_back(session, pairing_id, lambda: concerns.name_liaison(session.email, pairing_id, liaison))


def _then_back(session: Session, pairing_id: str, act) -> web.Answer:
    """Do it and return to the pairing's page; a refusal is shown on that page (an unknown pairing is not found)."""
    pairings.get_pairing(pairing_id)
    try:
        act()
    except Refused as refusal:
        return admin_pairings.pairing_page(session, pairing_id, problem=refusal.message, status=web.status_of(refusal))
    return web.redirect(f"/admin/pairings/{pairing_id}")
