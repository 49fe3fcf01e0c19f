"""Supply and demand for one cohort before matching: its matching pool, tallied by domain.supply.

The pool is the one matching uses (proposals.matching_pool): confirmed,
eligible applicants not already in a live pairing, mentors with the places
they have left. Topics are the cohort's own vocabulary. Mentees whom no
mentor can take carry their names, for the committee's page.
"""
from __future__ import annotations

from chalicelib.adapters.models import Cohort
from chalicelib.domain import supply
from chalicelib.services import settings_store
from chalicelib.services.proposals import matching_pool


def cohort_supply(cohort: Cohort) -> dict:
    mentors, mentees, people = matching_pool(cohort)
    topics = {topic["value"]: topic["label"] for topic in settings_store.current(cohort.id).document["interests"]}
    figures = supply.tally(mentors, mentees, topics)
    for mentee in figures["unplaceable"]:
        mentee["name"] = people[mentee["id"]]["name"]
    return {"cohort": cohort.id, "cohort_name": cohort.name, **figures}
