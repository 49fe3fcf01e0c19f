"""The application schema and its validation, without AWS."""
import pytest

from chalicelib.domain.schema import FIELDS, FIELDS_BY_NAME, INTERESTS
from chalicelib.domain.validation import Invalid, from_json, validate_application
from tests.helpers import as_form, valid_answers


def errors_for(answers: dict) -> dict[str, str]:
    with pytest.raises(Invalid) as raised:
        validate_application(as_form(answers))
    return raised.value.errors


def test_a_valid_mentee_is_cleaned_into_typed_values():
    clean = validate_application(as_form(valid_answers("mentee")))
    assert clean["role"] == "mentee"
    assert clean["years_experience"] == 3
    assert clean["interests"] == ["youth_services", "technology"]  # vocabulary order
    assert clean["consent_confidentiality"] is True
    assert clean["preferred_library_type"] == "any"  # the default
    assert "capacity" not in clean and "cross_type_ok" not in clean


def test_a_valid_mentor_gets_capacity_and_cross_type_and_no_mentee_fields():
    clean = validate_application(as_form(valid_answers("mentor", preferred_library_type="school")))
    assert clean["capacity"] == 2
    assert clean["cross_type_ok"] is True
    assert "preferred_library_type" not in clean


def test_mentor_capacity_defaults_to_one_and_cross_type_to_no():
    answers = valid_answers("mentor")
    del answers["capacity"], answers["cross_type_ok"]
    clean = validate_application(as_form(answers))
    assert clean["capacity"] == 1 and clean["cross_type_ok"] is False


def test_role_is_required():
    assert "role" in errors_for(valid_answers(role="guest"))


@pytest.mark.parametrize("name", [f.name for f in FIELDS if f.required and f.name != "role"
                                  and f.default is None and f.kind != "yes_no"])
def test_every_required_field_is_required(name):
    answers = valid_answers("mentee")
    answers.pop(name, None)
    assert name in errors_for(answers)


def test_goals_are_required_of_mentees_only():
    assert "goals" in errors_for(valid_answers("mentee", goals="  "))
    assert validate_application(as_form(valid_answers("mentor", goals="")))["goals"] == ""


@pytest.mark.parametrize("value", ["-1", "61", "three", "2.5", "1e3", ""])
def test_years_of_experience_is_a_whole_number_from_0_to_60(value):
    assert "years_experience" in errors_for(valid_answers(years_experience=value))


@pytest.mark.parametrize("value", ["0", "60"])
def test_years_of_experience_bounds_are_accepted(value):
    assert validate_application(as_form(valid_answers(years_experience=value)))["years_experience"] == int(value)


@pytest.mark.parametrize("field,value", [
    ("library_type", "museum"), ("career_stage", "retired"), ("meeting_frequency", "hourly"),
    ("interests", ["technology", "knitting"]), ("communication", ["pigeon"]),
])
def test_values_outside_the_vocabularies_are_refused(field, value):
    assert field in errors_for(valid_answers(**{field: value}))


@pytest.mark.parametrize("email", ["jo", "jo@", "@example.org", "jo@example", "jo reader@example.org", "jo@exa mple.org"])
def test_bad_email_addresses_are_refused(email):
    assert "email" in errors_for(valid_answers(email=email))


def test_email_is_lowercased():
    assert validate_application(as_form(valid_answers(email="Jo.Reader@Example.ORG")))["email"] == "jo.reader@example.org"


def test_consent_must_be_given():
    assert "consent_confidentiality" in errors_for(valid_answers(consent_confidentiality=""))
    answers = valid_answers()
    del answers["consent_confidentiality"]
    assert "consent_confidentiality" in errors_for(answers)


def test_overlong_text_is_refused_with_its_length():
    message = errors_for(valid_answers(name="x" * 201))["name"]
    assert "200" in message and "201" in message


def test_markup_is_kept_as_plain_text():
    clean = validate_application(as_form(valid_answers(name="<script>alert(1)</script>")))
    assert clean["name"] == "<script>alert(1)</script>"


def test_unknown_fields_are_ignored():
    clean = validate_application(as_form(valid_answers(favourite_colour="blue", status="eligible")))
    assert "favourite_colour" not in clean and "status" not in clean


def test_control_characters_are_dropped_and_single_line_text_is_folded():
    clean = validate_application(as_form(valid_answers(name="Jo\x07  \n Reader")))
    assert clean["name"] == "Jo Reader"


def test_json_values_are_brought_to_the_form_shape():
    document = {"role": "mentor", "capacity": 3, "cross_type_ok": True, "years_experience": 20,
                "interests": ["technology"], "region": None}
    values = from_json(document)
    assert values["capacity"] == ["3"] and values["cross_type_ok"] == ["true"]
    assert values["interests"] == ["technology"] and values["region"] == [""]


def test_json_objects_inside_fields_are_refused():
    answers = valid_answers()
    answers["name"] = {"first": "Jo"}
    with pytest.raises(Invalid) as raised:
        validate_application(from_json(answers))
    assert "name" in raised.value.errors


def test_a_json_body_that_is_not_an_object_is_refused():
    with pytest.raises(Invalid):
        from_json(["role", "mentor"])


def test_the_schema_declares_every_field_once_with_the_issue_names():
    expected = {"role", "name", "email", "membership_id", "library_name", "library_type", "position",
                "years_experience", "career_stage", "region", "interests", "communication", "meeting_frequency",
                "goals", "consent_confidentiality", "comments", "capacity", "cross_type_ok", "standing_pool",
                "preferred_library_type"}
    assert set(FIELDS_BY_NAME) == expected and len(FIELDS) == len(expected)
    assert len(INTERESTS) >= 14
