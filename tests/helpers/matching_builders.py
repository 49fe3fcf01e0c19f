"""Builders for tests of the matching engine (domain/matching) and what is built on it (supply,
fairness): applications with sensible defaults, small random cohorts drawn so that rules bite and
scores tie, and the scores of the pairs such a cohort allows."""
from __future__ import annotations

from hypothesis import strategies as st

from chalicelib.domain.matching import score_pair
from chalicelib.domain.schema import CAREER_STAGES, COMMUNICATION_MODES, INTERESTS, LIBRARY_TYPES


def application(role: str, id: str, **overrides) -> dict:
    record = {
        "id": id, "role": role, "name": f"Test {id}", "library_name": f"Library of {id}",
        "library_type": "academic", "position": "Librarian", "years_experience": 15 if role == "mentor" else 3,
        "career_stage": "senior" if role == "mentor" else "new_professional", "region": "Lexington",
        "interests": ["leadership", "technology"], "communication": ["email", "video"],
        "meeting_frequency": "monthly", "goals": "Grow.",
    }
    record.update({"capacity": 1, "cross_type_ok": False} if role == "mentor" else {"preferred_library_type": "any"})
    record.update(overrides)
    return record


def mentor(id: str, **overrides) -> dict:
    return application("mentor", id, **overrides)


def mentee(id: str, **overrides) -> dict:
    return application("mentee", id, **overrides)


MODES = [value for value, _ in COMMUNICATION_MODES]
TOPICS = [value for value, _ in INTERESTS][:5]
TYPES = [value for value, _ in LIBRARY_TYPES][:3]


@st.composite
def cohorts(draw, most_mentees: int = 7, most_mentors: int = 3):
    """Small cohorts drawn from narrow vocabularies, so that rules bite and scores tie."""
    def person(role: str, id: str) -> dict:
        fields = {
            "library_name": draw(st.sampled_from(["Alpha Library", "alpha  library", "Beta Library", "Gamma"])),
            "library_type": draw(st.sampled_from(TYPES)),
            "years_experience": draw(st.integers(0, 12)),
            "career_stage": draw(st.sampled_from([value for value, _ in CAREER_STAGES])),
            "region": draw(st.sampled_from(["", "Lexington", "lexington ", "Paducah"])),
            "interests": draw(st.lists(st.sampled_from(TOPICS), min_size=1, max_size=3, unique=True)),
            "communication": draw(st.lists(st.sampled_from(MODES), min_size=1, max_size=3, unique=True)),
        }
        if role == "mentor":
            fields.update(capacity=draw(st.integers(1, 3)), cross_type_ok=draw(st.booleans()))
        else:
            fields["preferred_library_type"] = draw(st.sampled_from(["any", "any", *TYPES]))
        return application(role, id, **fields)

    mentors = [person("mentor", f"m{index}") for index in range(draw(st.integers(1, most_mentors)))]
    mentees = [person("mentee", f"e{index}") for index in range(draw(st.integers(0, most_mentees)))]
    every_pair = [(m["id"], e["id"]) for m in mentors for e in mentees]
    for mentor_id, mentee_id in draw(st.lists(st.sampled_from(every_pair), max_size=2)) if every_pair else []:
        next(m for m in mentors if m["id"] == mentor_id)["past_partners"] = [mentee_id]
    forbids = draw(st.lists(st.sampled_from(every_pair), max_size=3)) if every_pair else []
    return mentors, mentees, forbids


def allowed_scores(mentors, mentees, forbids) -> dict[tuple[int, int], int]:
    scores = {}
    for i, mentor_record in enumerate(mentors):
        for j, mentee_record in enumerate(mentees):
            score, _ = score_pair(mentor_record, mentee_record)
            if score is not None and (mentor_record["id"], mentee_record["id"]) not in forbids:
                scores[i, j] = score
    return scores
