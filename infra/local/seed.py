"""Demo data for the sandbox: a realistic, synthetic open cohort."""
from __future__ import annotations

from chalicelib.services.intake import create_application
from chalicelib.services.membership import replace_roster
from chalicelib.adapters.models import Application
from chalicelib.domain.roster import RosterRow, normalise_membership_id
from chalicelib.adapters.store import open_cohort

DEMO_MENTEES = 26
DEMO_MENTORS = 14
DEMO_SEED = 2026


def demo_applications(mentees: int = DEMO_MENTEES, mentors: int = DEMO_MENTORS, capacity: int | None = None) -> list[dict]:
    from infra.local.demo import synthetic_applications

    return synthetic_applications(mentees=mentees, mentors=mentors, seed=DEMO_SEED, capacity=capacity)


def demo_roster_csv() -> str:
    """The roster a committee member would upload for the demo applicants."""
    lines = ["membership_id,email,name"]
    lines += [f'{record["membership_id"]},{record["email"]},"{record["name"]}"' for record in demo_applications()]
    return "\n".join(lines) + "\n"


def seed_demo_cohort(mentees: int = DEMO_MENTEES, mentors: int = DEMO_MENTORS, capacity: int | None = None) -> str:
    """Add about 40 confirmed applicants (or as many as asked), and a roster that makes
    them eligible, once; later runs add none."""
    cohort = open_cohort()
    existing = sum(1 for role in ("mentor", "mentee")
                   for _ in Application.by_cohort_role.query(f"{cohort.id}#{role}", limit=1))
    if existing:
        return "the open cohort already has applicants; none added"
    records = demo_applications(mentees, mentors, capacity)
    replace_roster([RosterRow(normalise_membership_id(r["membership_id"]), r["email"], r["name"], None)
                    for r in records], by="sandbox demo")
    for record in records:
        create_application(cohort.id, {key: value for key, value in record.items() if key != "id"}, confirmed=True)
    mentors = sum(1 for record in records if record["role"] == "mentor")
    return f"{mentors} mentors and {len(records) - mentors} mentees added to cohort {cohort.name}"
