"""The committee's supply-and-demand page and its JSON, for one cohort before matching."""
from __future__ import annotations

from collections.abc import Mapping

from chalicelib.adapters.store import cohort_or_open, required_cohort
from chalicelib.pages import web
from chalicelib.services.committee import Session
from chalicelib.services.supply import cohort_supply


@web.json_route
def supply_json(cohort_id: str) -> web.Answer:
    return web.json_answer(cohort_supply(required_cohort(cohort_id)))


def supply_page(session: Session, query: Mapping) -> web.Answer:
    cohort = cohort_or_open(query.get("cohort"))
    return web.admin_page("pages/admin/supply.html", session, cohort=cohort,
                          supply=cohort_supply(cohort) if cohort else None)
