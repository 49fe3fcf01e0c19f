"""Supply and demand before matching: what the mentees ask for against the mentor places on offer.

Pure: works on the matching pool (application records as matching reads
them, mentors with the places they have left). Four tallies, each a row per
value with the mentees who want it, the mentor places that offer it and the
gap between them:

- library types: mentees by the type they want (their own when they said
  "any"), against places of mentors of that type; places of mentors of other
  types who are glad to mentor across types are counted separately, not as
  supply of the type.
- topics: mentees who list a topic, against places of mentors who list it.
- ways of meeting: mentees who list a way, and those for whom it is the only
  way (the hard rule needs one shared way), against places of mentors who
  offer it; the gap counts the latter.
- regions, for in-person pairs: mentees who would meet in person, by region,
  against places of in-person mentors there.

Each gap gets one recruitment suggestion, counted in mentors taking the
cohort's usual number of mentees (the median of the places on offer).
`unplaceable` are the mentees whom no mentor can take under the hard rules
(matching.ruled_out_mentees), with why.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from chalicelib.domain import matching
from chalicelib.domain.schema import COMMUNICATION_MODES, LIBRARY_TYPES

TYPE_LABELS = dict(LIBRARY_TYPES)
WAY_LABELS = dict(COMMUNICATION_MODES)
IN_PERSON = "in_person"


def tally(mentors: Sequence[Mapping], mentees: Sequence[Mapping], topic_labels: Mapping[str, str]) -> dict:
    """mentors, mentees: matching records (mentors' "capacity" is their places left).
    topic_labels: the cohort's topics, value -> label."""
    mentor_people = [matching.participant_from_application(record) for record in mentors]
    mentee_people = [matching.participant_from_application(record) for record in mentees]
    usual = _usual_places(mentor_people)
    library_types = _library_types(mentor_people, mentee_people)
    topics = _topics(mentor_people, mentee_people, topic_labels)
    ways = _ways(mentor_people, mentee_people)
    regions = _regions(mentor_people, mentee_people)
    suggestions = (
        [_suggest(row["gap"], usual, f"from {_libraries(row['type'])}", f"would place every {_type_mentee(row['type'])}")
         for row in library_types if row["gap"]]
        + [_suggest(row["gap"], usual, f"listing {row['label'].lower()}",
                    f"would give every mentee who asks for {row['label'].lower()} a mentor who shares it")
           for row in topics if row["gap"]]
        + [_suggest(row["gap"], usual, f"offering {row['label'].lower()}",
                    f"would give every mentee who can only meet by {row['label'].lower()} a mentor")
           for row in ways if row["gap"]]
        + [_suggest(row["gap"], usual, f"in {row['region']} meeting in person",
                    "would let every mentee there who wants to meet in person do so")
           for row in regions if row["gap"]])
    return {
        "mentees": len(mentee_people),
        "mentors": len(mentor_people),
        "mentor_places": sum(person.capacity for person in mentor_people),
        "usual_places": usual,
        "library_types": library_types,
        "topics": topics,
        "ways": ways,
        "regions": regions,
        "unplaceable": [{"id": mentee.id, "reason": mentee.reason}
                        for mentee in matching.ruled_out_mentees(mentor_people, mentee_people)],
        "suggestions": suggestions,
    }


def _row(wanted: int, places: int, **fields) -> dict:
    return {**fields, "mentees": wanted, "places": places, "gap": max(0, wanted - places)}


def _library_types(mentors, mentees) -> list[dict]:
    rows = []
    for value, label in LIBRARY_TYPES:
        wanting = [person for person in mentees if person.wanted_library_type == value]
        own = sum(person.capacity for person in mentors if person.library_type == value)
        across = sum(person.capacity for person in mentors if person.library_type != value and person.cross_type_ok)
        if wanting or own:
            rows.append({**_row(len(wanting), own, type=value, label=label),
                         "asked": sum(person.asked_library_type for person in wanting), "cross_type_places": across})
    return rows


def _topics(mentors, mentees, topic_labels: Mapping[str, str]) -> list[dict]:
    rows = [_row(sum(value in person.interests for person in mentees),
                 sum(person.capacity for person in mentors if value in person.interests), topic=value, label=label)
            for value, label in topic_labels.items()]
    return [row for row in rows if row["mentees"] or row["places"]]


def _ways(mentors, mentees) -> list[dict]:
    rows = []
    for value, label in COMMUNICATION_MODES:
        only = sum(person.communication == {value} for person in mentees)
        places = sum(person.capacity for person in mentors if value in person.communication)
        rows.append({**_row(only, places, way=value, label=label),
                     "listing": sum(value in person.communication for person in mentees), "only_way": only})
    return rows


def _regions(mentors, mentees) -> list[dict]:
    """In-person mentees and mentor places by region (compared as matching compares them)."""
    names: dict[str, str] = {}
    wanted: dict[str, int] = {}
    places: dict[str, int] = {}
    for people, counts, count in ((mentees, wanted, lambda person: 1), (mentors, places, lambda person: person.capacity)):
        for person in people:
            if IN_PERSON in person.communication:
                key = person.region_key or ""
                names.setdefault(key, " ".join(person.region.split()) or "no region given")
                counts[key] = counts.get(key, 0) + count(person)
    rows = [_row(wanted.get(key, 0), places.get(key, 0), region=names[key]) for key in names if key]
    if "" in names:  # a region not given matches no one in person: listed, never a gap to recruit for
        rows.append({**_row(wanted.get("", 0), places.get("", 0), region=names[""]), "gap": 0})
    return sorted(rows, key=lambda row: (-row["gap"], row["region"].casefold()))


def _usual_places(mentors) -> int:
    return max(1, round(statistics.median(person.capacity for person in mentors))) if mentors else 1


def _suggest(gap: int, usual: int, which: str, outcome: str) -> str:
    needed = math.ceil(gap / usual)
    return f"{needed} more mentor{'' if needed == 1 else 's'} {which} {outcome}."


def _libraries(library_type: str) -> str:
    label = TYPE_LABELS[library_type].lower()
    if label.endswith(" library"):
        return label.removesuffix("library") + "libraries"
    return "other kinds of library" if library_type == "other" else label


def _type_mentee(library_type: str) -> str:
    """"school-library mentee", "archives mentee", "mentee from another kind of library"."""
    if library_type == "other":
        return "mentee from another kind of library"
    return TYPE_LABELS[library_type].lower().replace(" ", "-") + " mentee"
