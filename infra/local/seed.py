"""Demo data for the sandbox: a realistic, synthetic open cohort."""
from __future__ import annotations

from chalicelib.intake import create_application
from chalicelib.models import Application, Member
from chalicelib.store import normalise_membership_id, open_cohort

DEMO_MENTEES = 26
DEMO_MENTORS = 14
DEMO_SEED = 2026


def seed_demo_cohort() -> str:
    """Add about 40 confirmed applicants, and their roster rows so they are
    eligible, once; later runs add none."""
    from infra.local.demo import synthetic_applications

    cohort = open_cohort()
    existing = sum(1 for role in ("mentor", "mentee")
                   for _ in Application.by_cohort_role.query(f"{cohort.id}#{role}", limit=1))
    if existing:
        return "the open cohort already has applicants; none added"
    for record in synthetic_applications(mentees=DEMO_MENTEES, mentors=DEMO_MENTORS, seed=DEMO_SEED):
        answers = {key: value for key, value in record.items() if key != "id"}
        Member(normalise_membership_id(answers["membership_id"]), email=answers["email"], name=answers["name"]).save()
        create_application(cohort.id, answers, confirmed=True)
    return f"{DEMO_MENTORS} mentors and {DEMO_MENTEES} mentees added to cohort {cohort.name}"
