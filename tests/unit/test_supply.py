"""Supply and demand before matching, on cohorts built to lack something."""
from __future__ import annotations

from chalicelib.domain import supply
from chalicelib.domain.schema import INTERESTS
from tests.helpers.matching_builders import mentee, mentor

TOPICS = dict(INTERESTS)


def rows_by(figures: dict, part: str, key: str) -> dict:
    return {row[key]: row for row in figures[part]}


def school_less_cohort():
    mentors = [mentor("m1", library_type="academic"), mentor("m2", library_type="academic"),
               mentor("m3", library_type="public", cross_type_ok=True, capacity=1)]
    mentees = [mentee(f"s{index}", library_type="school", preferred_library_type="school") for index in range(3)]
    mentees.append(mentee("a1", library_type="academic"))
    return mentors, mentees


def test_the_missing_library_type_is_named_with_the_mentors_it_needs():
    figures = supply.tally(*school_less_cohort(), TOPICS)
    school = rows_by(figures, "library_types", "type")["school"]
    assert (school["mentees"], school["asked"], school["places"], school["cross_type_places"], school["gap"]) == (3, 3, 0, 1, 3)
    academic = rows_by(figures, "library_types", "type")["academic"]
    assert (academic["mentees"], academic["places"], academic["gap"]) == (1, 2, 0)
    assert "3 more mentors from school libraries would place every school-library mentee." in figures["suggestions"]
    assert not any("academic" in suggestion for suggestion in figures["suggestions"])
    assert figures["unplaceable"] == []  # the cross-type mentor could take any one of them


def test_a_mentee_no_mentor_can_take_is_named_with_why():
    mentors, mentees = school_less_cohort()
    mentors = [record for record in mentors if not record["cross_type_ok"]]
    mentees.append(mentee("p1", communication=["in_person"]))
    figures = supply.tally(mentors, mentees, TOPICS)
    reasons = {item["id"]: item["reason"] for item in figures["unplaceable"]}
    assert set(reasons) == {"s0", "s1", "s2", "p1"}
    assert reasons["p1"] == "no mentor shares a way to communicate"
    assert "type of library the mentee asked for" in reasons["s0"]
    in_person = rows_by(figures, "ways", "way")["in_person"]
    assert (in_person["listing"], in_person["only_way"], in_person["places"], in_person["gap"]) == (1, 1, 0, 1)
    assert "1 more mentor offering in person would give every mentee who can only meet by in person a mentor." \
        in figures["suggestions"]


def test_suggestions_count_mentors_at_the_cohorts_usual_places():
    mentors = [mentor("m1", capacity=2), mentor("m2", capacity=2), mentor("m3", capacity=3)]
    mentees = [mentee(f"s{index}", library_type="school", preferred_library_type="school") for index in range(3)]
    figures = supply.tally(mentors, mentees, TOPICS)
    assert figures["usual_places"] == 2 and figures["mentor_places"] == 7
    assert "2 more mentors from school libraries would place every school-library mentee." in figures["suggestions"]


def test_topics_and_in_person_regions_are_tallied_against_places():
    mentors = [mentor("m1", interests=["leadership"], communication=["email", "in_person"], region="Lexington", capacity=1),
               mentor("m2", interests=["leadership"], communication=["email", "in_person"], region="lexington", capacity=1)]
    mentees = [mentee("e1", interests=["grants", "leadership"], communication=["email", "in_person"], region="Pikeville"),
               mentee("e2", interests=["grants"], communication=["email", "in_person"], region=" pikeville"),
               mentee("e3", interests=["leadership"], communication=["email", "in_person"], region="Lexington")]
    figures = supply.tally(mentors, mentees, TOPICS)
    topics = rows_by(figures, "topics", "topic")
    assert (topics["grants"]["mentees"], topics["grants"]["places"], topics["grants"]["gap"]) == (2, 0, 2)
    assert (topics["leadership"]["mentees"], topics["leadership"]["places"], topics["leadership"]["gap"]) == (2, 2, 0)
    regions = rows_by(figures, "regions", "region")
    assert (regions["Pikeville"]["mentees"], regions["Pikeville"]["places"], regions["Pikeville"]["gap"]) == (2, 0, 2)
    assert (regions["Lexington"]["mentees"], regions["Lexington"]["places"], regions["Lexington"]["gap"]) == (1, 2, 0)
    assert any(s.startswith("2 more mentors in Pikeville meeting in person would let") for s in figures["suggestions"])
    assert any(s.startswith("2 more mentors listing grants and fundraising would give") for s in figures["suggestions"])


def test_an_empty_pool_has_no_gaps_to_invent():
    figures = supply.tally([], [], TOPICS)
    assert figures["suggestions"] == [] and figures["unplaceable"] == [] and figures["mentor_places"] == 0
    lonely = supply.tally([], [mentee("e1")], TOPICS)
    assert lonely["unplaceable"] == [{"id": "e1", "reason": "there are no mentors in this cohort"}]
