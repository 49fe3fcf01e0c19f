"""Synthetic applicants for the local sandbox and the matching benchmark.

Everyone made here is invented: names come from a short list with made-up
surnames, addresses end in example.org, libraries are in fictional places.
The draws follow what a state association's cohort looks like (more public and
academic libraries than archives, senior mentors, junior mentees, email as the
usual way to talk), so the demo and the benchmark see realistic structure.
Field names and vocabularies come from chalicelib.domain.schema; only the standard
library is used, seeded, so the same arguments always give the same people.
"""
from __future__ import annotations

import random
import uuid

from chalicelib.domain.schema import (
    CAREER_STAGES,
    COMMUNICATION_MODES,
    INTERESTS,
    LIBRARY_TYPES,
    MEETING_FREQUENCIES,
    label_of,
)

FIRST_NAMES = (
    "Alex", "Avery", "Blair", "Cameron", "Casey", "Dakota", "Drew", "Emerson",
    "Finley", "Harper", "Hayden", "Jamie", "Jordan", "Kendall", "Lee", "Logan",
    "Morgan", "Parker", "Quinn", "Reese", "Riley", "Robin", "Rowan", "Sage",
    "Skyler", "Taylor",
)
SURNAMES = ("Example", "Sample", "Placeholder", "Testwood", "Demoford", "Mockley", "Fakename")

PLACES = (
    "Cedar Fork", "Millbrook", "Oak Hollow", "Stony Creek", "Laurel Bend",
    "Pine Knob", "Red Clay", "Willow Run", "Green Meadow", "Sycamore Flats",
    "Hickory Gap", "Maple Ridge",
)
LIBRARY_NAME_PATTERNS = {
    "public": ("{place} County Public Library", "{place} Branch Library"),
    "academic": ("{place} State University Library", "{place} Community College Library"),
    "school": ("{place} High School Library", "{place} Elementary Library"),
    "special": ("{place} Medical Center Library", "{place} Law Firm Library"),
    "archives": ("{place} Historical Society Archives",),
    "other": ("{place} Correctional Center Library", "{place} Museum Library"),
}

REGIONS = ("Louisville", "Lexington", "Bowling Green", "Frankfort", "Paducah",
           "Pikeville", "Owensboro", "Covington", "Richmond", "Hopkinsville")
REGION_WEIGHTS = (24, 20, 9, 7, 6, 5, 6, 8, 8, 7)
NO_REGION_SHARE = 0.1

LIBRARY_TYPE_WEIGHTS = {"public": 40, "academic": 30, "school": 12, "special": 8, "archives": 4, "other": 6}
CAREER_STAGE_WEIGHTS = {
    "mentor": {"student": 0, "new_professional": 5, "mid_career": 50, "senior": 35, "support_staff": 10},
    "mentee": {"student": 30, "new_professional": 40, "mid_career": 15, "senior": 0, "support_staff": 15},
}
YEARS_BY_STAGE = {
    "student": (0, 2), "new_professional": (0, 5), "mid_career": (6, 20),
    "senior": (15, 40), "support_staff": (1, 25),
}
POSITIONS_BY_STAGE = {
    "student": ("MLIS student", "Library science student", "Graduate assistant"),
    "new_professional": ("Reference librarian", "Youth services librarian", "Instruction librarian",
                         "Cataloging librarian", "School librarian", "Archivist"),
    "mid_career": ("Branch manager", "Department head", "Systems librarian",
                   "Collection development librarian", "Archivist"),
    "senior": ("Library director", "Associate dean of libraries", "Assistant director",
               "Head of special collections"),
    "support_staff": ("Library assistant", "Circulation supervisor", "Library technician"),
}
INTEREST_WEIGHTS = {
    "leadership": 10, "youth_services": 6, "reference": 7, "instruction": 6, "cataloging": 4,
    "collection_development": 5, "technology": 7, "archives_special_collections": 3, "outreach": 6,
    "grants": 4, "advocacy": 3, "career_development": 10, "association_involvement": 4,
    "research_publishing": 3,
}
INTEREST_COUNT_WEIGHTS = {1: 20, 2: 35, 3: 30, 4: 15}
# Chance that an applicant offers each way to communicate; email is the norm.
COMMUNICATION_CHANCES = {"email": 0.85, "phone": 0.35, "video": 0.55, "in_person": 0.4}
MEETING_FREQUENCY_WEIGHTS = {"weekly": 5, "biweekly": 15, "monthly": 50, "quarterly": 10, "flexible": 20}
MENTOR_CAPACITY_WEIGHTS = {1: 45, 2: 40, 3: 15}
STANDING_POOL_EVERY = 3  # every third mentor stays in the standing pool
CROSS_TYPE_OK_SHARE = 0.6
# What mentees ask of their mentor's library: mostly anything, else often their own type.
ANY_TYPE_SHARE = 0.55
OWN_TYPE_SHARE = 0.35


def synthetic_applications(mentees: int, mentors: int, seed: int = 7, capacity: int | None = None) -> list[dict]:
    """Return `mentors` mentor and `mentees` mentee applications, invented and deterministic.

    capacity, if given, is every mentor's capacity; otherwise mentors take 1, 2
    or 3 mentees in a realistic mix. Each role covers every library type when it
    has at least as many applicants as there are types.
    """
    _check_vocabularies()
    random_source = random.Random(seed)
    applications = []
    for role, count in (("mentor", mentors), ("mentee", mentees)):
        for library_type in _library_types(random_source, count):
            applications.append(_application(random_source, role, len(applications) + 1, library_type, capacity))
    return applications


def _library_types(random_source: random.Random, count: int) -> list[str]:
    chosen = [value for value, _ in LIBRARY_TYPES] if count >= len(LIBRARY_TYPES) else []
    chosen += _weighted_choices(random_source, LIBRARY_TYPE_WEIGHTS, count - len(chosen))
    random_source.shuffle(chosen)
    return chosen


def _application(random_source: random.Random, role: str, number: int, library_type: str,
                 capacity: int | None) -> dict:
    first_name = random_source.choice(FIRST_NAMES)
    surname = random_source.choice(SURNAMES)
    career_stage = _weighted_choice(random_source, CAREER_STAGE_WEIGHTS[role])
    place = random_source.choice(PLACES)
    interests = _weighted_sample(random_source, INTEREST_WEIGHTS,
                                 _weighted_choice(random_source, INTEREST_COUNT_WEIGHTS))
    application = {
        "id": uuid.UUID(int=random_source.getrandbits(128), version=4).hex,
        "role": role,
        "name": f"{first_name} {surname}",
        "email": f"{first_name}.{surname}.{number}@example.org".lower(),
        "membership_id": f"DEMO-{number:05d}",
        "library_name": random_source.choice(LIBRARY_NAME_PATTERNS[library_type]).format(place=place),
        "library_type": library_type,
        "position": random_source.choice(POSITIONS_BY_STAGE[career_stage]),
        "years_experience": random_source.randint(*YEARS_BY_STAGE[career_stage]),
        "career_stage": career_stage,
        "region": "" if random_source.random() < NO_REGION_SHARE
        else _weighted_choice(random_source, dict(zip(REGIONS, REGION_WEIGHTS))),
        "interests": interests,
        "communication": _communication(random_source),
        "meeting_frequency": _weighted_choice(random_source, MEETING_FREQUENCY_WEIGHTS),
        "goals": _goals(role, interests),
        "consent_confidentiality": True,
        "comments": "",
    }
    if role == "mentor":
        application["capacity"] = capacity or _weighted_choice(random_source, MENTOR_CAPACITY_WEIGHTS)
        application["cross_type_ok"] = random_source.random() < CROSS_TYPE_OK_SHARE
        application["standing_pool"] = number % STANDING_POOL_EVERY == 0  # drawn from no randomness: the rest stays as it was
    else:
        application["preferred_library_type"] = _preferred_library_type(random_source, library_type)
    return application


def _communication(random_source: random.Random) -> list[str]:
    modes = [mode for mode, chance in COMMUNICATION_CHANCES.items() if random_source.random() < chance]
    if not modes:
        modes = ["email"]
    if len(modes) == len(COMMUNICATION_CHANCES):  # the form suggests up to three
        modes.remove(random_source.choice([mode for mode in modes if mode != "email"]))
    return [value for value, _ in COMMUNICATION_MODES if value in modes]


def _preferred_library_type(random_source: random.Random, own_type: str) -> str:
    draw = random_source.random()
    if draw < ANY_TYPE_SHARE:
        return "any"
    if draw < ANY_TYPE_SHARE + OWN_TYPE_SHARE:
        return own_type
    return _weighted_choice(random_source, LIBRARY_TYPE_WEIGHTS)


def _goals(role: str, interests: list[str]) -> str:
    topics = " and ".join(label_of(INTERESTS, interest).lower() for interest in interests[:2])
    if role == "mentor":
        return f"I would like to share what I have learned about {topics}, and hear how newer colleagues see the field."
    return f"This year I want to grow in {topics}, and learn more about the association."


def _weighted_choice(random_source: random.Random, weights: dict):
    return _weighted_choices(random_source, weights, 1)[0]


def _weighted_choices(random_source: random.Random, weights: dict, count: int) -> list:
    return random_source.choices(list(weights), weights=list(weights.values()), k=count)


def _weighted_sample(random_source: random.Random, weights: dict[str, int], count: int) -> list[str]:
    """Draw `count` distinct interests, each as likely as its weight says, in the schema's order."""
    # Efraimidis–Spirakis: the keys with the largest u^(1/w) form a weighted sample without replacement.
    keyed = sorted(weights, key=lambda value: random_source.random() ** (1 / weights[value]), reverse=True)
    chosen = set(keyed[:count])
    return [value for value, _ in INTERESTS if value in chosen]


def _check_vocabularies() -> None:
    # The draws above name schema values; a renamed value must fail loudly here, not skew the data.
    for weights, vocabulary in ((LIBRARY_TYPE_WEIGHTS, LIBRARY_TYPES), (INTEREST_WEIGHTS, INTERESTS),
                                (MEETING_FREQUENCY_WEIGHTS, MEETING_FREQUENCIES),
                                (COMMUNICATION_CHANCES, COMMUNICATION_MODES),
                                (YEARS_BY_STAGE, CAREER_STAGES)):
        if set(weights) != {value for value, _ in vocabulary}:
            raise ValueError(f"demo data is out of date with the schema: {sorted(weights)}")
