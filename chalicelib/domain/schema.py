"""The application form's fields and vocabularies, declared once.

Every other place (the HTML form, the JSON API, validation, storage, matching,
CSV exports, tests) takes field names and allowed values from here. The field
list is data, not code, so the committee's own questions can join it later.
Nothing here may import chalice, boto3 or pynamodb.
"""
from __future__ import annotations

from dataclasses import dataclass

ROLES = (("mentor", "Mentor"), ("mentee", "Mentee"))

LIBRARY_TYPES = (
    ("public", "Public library"),
    ("academic", "Academic library"),
    ("school", "School library"),
    ("special", "Special library"),
    ("archives", "Archives"),
    ("other", "Other"),
)

CAREER_STAGES = (
    ("student", "Student"),
    ("new_professional", "New professional"),
    ("mid_career", "Mid-career"),
    ("senior", "Senior or administrative"),
    ("support_staff", "Support staff"),
)

COMMUNICATION_MODES = (
    ("email", "Email"),
    ("phone", "Phone"),
    ("video", "Video call"),
    ("in_person", "In person"),
)

MEETING_FREQUENCIES = (
    ("weekly", "Weekly"),
    ("biweekly", "Every two weeks"),
    ("monthly", "Monthly (the program's suggested baseline)"),
    ("quarterly", "Every few months"),
    ("flexible", "Flexible, as we agree"),
)

INTERESTS = (
    ("leadership", "Leadership and management"),
    ("youth_services", "Youth services"),
    ("reference", "Reference and public services"),
    ("instruction", "Instruction"),
    ("cataloging", "Cataloging and technical services"),
    ("collection_development", "Collection development"),
    ("technology", "Technology"),
    ("archives_special_collections", "Archives and special collections"),
    ("outreach", "Outreach and programming"),
    ("grants", "Grants and fundraising"),
    ("advocacy", "Advocacy"),
    ("career_development", "Career development"),
    ("association_involvement", "Involvement in the association"),
    ("research_publishing", "Research and publishing"),
)

PREFERRED_LIBRARY_TYPES = (("any", "Any type of library"),) + LIBRARY_TYPES

MENTOR_CAPACITIES = (("1", "1 mentee"), ("2", "2 mentees"), ("3", "3 mentees"))

BOTH_ROLES = ("mentor", "mentee")


@dataclass(frozen=True)
class Field:
    """One question on the application form.

    kind is one of: text, email, textarea, integer, choice (one of choices),
    choices (one or more of choices), consent (must be ticked), yes_no.
    """

    name: str
    label: str
    kind: str
    required: bool = True
    roles: tuple[str, ...] = BOTH_ROLES
    choices: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    default: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = 200
    autocomplete: str | None = None
    required_for: tuple[str, ...] = ()  # required only for these roles
    section: str = "about"
    numeric: bool = False  # a choice whose values are stored as integers
    noun: str = ""  # how error messages name the answer: "Enter your full name."

    @property
    def answer_name(self) -> str:
        return self.noun or self.label[0].lower() + self.label[1:]

    def asks(self, role: str) -> bool:
        return role in self.roles

    def is_required(self, role: str) -> bool:
        return self.required or role in self.required_for


FIELDS: tuple[Field, ...] = (
    Field("role", "I am applying as a", "choice", choices=ROLES, section="role"),
    Field("name", "Full name", "text", autocomplete="name", noun="your full name"),
    Field("email", "Email address", "email", autocomplete="email",
          hint="We write to you here. Nobody outside the committee and your partner sees it.", noun="your email address"),
    Field("membership_id", "Association membership number", "text", max_length=40,
          hint="Membership is the only requirement. You find the number on your membership card or renewal email.", noun="your association membership number"),
    Field("library_name", "Library or institution", "text", autocomplete="organization", section="work", noun="the name of your library or institution"),
    Field("library_type", "Type of library", "choice", choices=LIBRARY_TYPES, section="work", noun="the type of library you work in"),
    Field("position", "Position or job title", "text", autocomplete="organization-title", section="work", noun="your position or job title"),
    Field("years_experience", "Years of library experience", "integer", minimum=0, maximum=60,
          hint="A whole number from 0 to 60.", section="work", noun="your years of library experience"),
    Field("career_stage", "Career stage", "choice", choices=CAREER_STAGES, section="work", noun="your career stage"),
    Field("region", "Region or city", "text", required=False, max_length=100,
          hint="Optional. Helps if you would like to meet in person.", section="work"),
    Field("interests", "Topics you would like to discuss", "choices", choices=INTERESTS,
          hint="Choose one or more.", section="match", noun="at least one topic you would like to discuss"),
    Field("communication", "Ways you would like to communicate", "choices", choices=COMMUNICATION_MODES,
          hint="Choose one or more.", section="match", noun="at least one way you would like to communicate"),
    Field("meeting_frequency", "How often you would like to be in touch", "choice",
          choices=MEETING_FREQUENCIES, default="monthly", section="match", noun="how often you would like to be in touch"),
    Field("goals", "Your goals for the program", "textarea", required=False, required_for=("mentee",),
          max_length=2000, hint="Mentees: what would you like to achieve this year? Mentors: what you hope to give and learn.",
          section="match", noun="your goals for the program"),
    Field("capacity", "How many mentees could you take on?", "choice", roles=("mentor",),
          choices=MENTOR_CAPACITIES, default="1", numeric=True, section="mentor", noun="how many mentees you could take on"),
    Field("cross_type_ok", "I am willing to mentor someone from another type of library", "yes_no",
          required=False, roles=("mentor",), section="mentor"),
    Field("standing_pool", "I am glad to stay in the standing pool: invite me again when a new program year opens",
          "yes_no", required=False, roles=("mentor",), section="mentor",
          hint="Optional. Each year you get one short mail, and you say yes or no to that year then."),
    Field("preferred_library_type", "Type of library your mentor should come from", "choice",
          roles=("mentee",), choices=PREFERRED_LIBRARY_TYPES, default="any", section="mentee", noun="the type of library your mentor should come from"),
    Field("comments", "Anything else the committee should know", "textarea", required=False,
          max_length=2000, section="consent"),
    Field("consent_confidentiality", "I agree to keep what my partner shares confidential, and to a relationship built on courtesy and respect",
          "consent", section="consent"),
)

FIELDS_BY_NAME = {field.name: field for field in FIELDS}


def label_of(vocabulary: tuple[tuple[str, str], ...], value: str) -> str:
    return dict(vocabulary).get(value, value)
