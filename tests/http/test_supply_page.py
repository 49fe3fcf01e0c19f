"""The supply-and-demand page and JSON, on a cohort built to lack school-library mentors."""
import pytest

from chalicelib.adapters.store import open_cohort
from chalicelib.domain.roster import RosterRow, normalise_membership_id
from chalicelib.services.intake import create_application
from chalicelib.services.membership import replace_roster
from infra.local.demo import synthetic_applications


@pytest.fixture
def school_less(aws):
    """A confirmed, eligible cohort where no mentor works in a school library or mentors across types,
    and four mentees asked for a school-library mentor."""
    records = synthetic_applications(mentees=12, mentors=6, seed=15)
    school_mentees = 0
    for record in records:
        if record["role"] == "mentor":
            record.update(cross_type_ok=False, library_type="public" if record["library_type"] == "school"
                          else record["library_type"])
        elif school_mentees < 4:
            record.update(library_type="school", preferred_library_type="school")
            school_mentees += 1
        elif record.get("preferred_library_type") == "school" or record["library_type"] == "school":
            record.update(library_type="academic", preferred_library_type="any")
    replace_roster([RosterRow(normalise_membership_id(r["membership_id"]), r["email"], r["name"], None)
                    for r in records], by="test")
    cohort = open_cohort()
    for record in records:
        create_application(cohort.id, {key: value for key, value in record.items() if key != "id"}, confirmed=True)
    return cohort


def test_the_supply_json_names_the_missing_library_type(client, committee_cookie, school_less):
    answer = client.http.get(f"/admin/api/cohorts/{school_less.id}/supply", headers={"Cookie": committee_cookie})
    assert answer.status_code == 200
    figures = answer.json_body
    school = {row["type"]: row for row in figures["library_types"]}["school"]
    assert (school["mentees"], school["places"], school["cross_type_places"], school["gap"]) == (4, 0, 0, 4)
    needed = -(-4 // figures["usual_places"])
    assert f"{needed} more mentors from school libraries would place every school-library mentee." in figures["suggestions"]
    # With no school-library mentor and none across types, the school mentees are the ones no one can take.
    unplaceable = {item["name"]: item["reason"] for item in figures["unplaceable"]}
    assert len(unplaceable) == 4 and all("type of library the mentee asked for" in r for r in unplaceable.values())


def test_the_supply_page_shows_the_gap_and_the_suggestion(client, committee_cookie, school_less):
    answer = client.http.get("/admin/supply", headers={"Cookie": committee_cookie})
    page = answer.body.decode()
    assert answer.status_code == 200 and "Supply and demand" in page
    assert "from school libraries" in page and "would place every school-library mentee" in page
    assert "Mentees no mentor can take" in page and "type of library the mentee asked for" in page


def test_an_unknown_cohort_is_a_404_and_the_page_needs_a_session(client, committee_cookie, school_less):
    answer = client.http.get("/admin/api/cohorts/no-such-cohort/supply", headers={"Cookie": committee_cookie})
    assert answer.status_code == 404
    assert client.http.get(f"/admin/api/cohorts/{school_less.id}/supply").status_code == 401
