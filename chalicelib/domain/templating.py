"""Jinja2 environments for pages and mail. Autoescaping is on for HTML.

Plain-text mail templates (.txt) are not HTML-escaped: they are never shown
as HTML, and escaping would put entities into people's inboxes.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

TEMPLATE_DIR = Path(__file__).parents[1] / "templates"


@lru_cache(maxsize=1)
def environment():
    import jinja2

    from chalicelib.domain import cohort_phases, schema

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["schema"] = schema
    env.filters["label"] = schema.label_of
    env.filters["library_type"] = library_type_label
    env.filters["in_words"] = in_words
    env.filters["phase"] = cohort_phases.phase_of
    return env


def in_words(value: str) -> str:
    """A state, event or timer as people write it: "checkin_due" -> "check-in due"."""
    return value.replace("_", " ").replace("checkin", "check-in")


def library_type_label(value: str) -> str:
    """A filter of page and mail templates (committee-edited mail too): "academic" -> "Academic library"."""
    from chalicelib.domain import schema

    return schema.label_of(schema.LIBRARY_TYPES, value)


def render(name: str, **context) -> str:
    return environment().get_template(name).render(**context)
