"""Filling in a page's form as a participant would, from the page itself (for tests that only
see the app over HTTP, such as the sandbox's, and cannot ask the app which questions it asks)."""
from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlencode


class _FormFields(HTMLParser):
    """The form's fields in page order: name -> (kind, the values offered, the values checked)."""

    def __init__(self):
        super().__init__()
        self.fields: dict[str, tuple[str, list[str], list[str]]] = {}
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") in ("radio", "checkbox"):
            kind, offered, checked = self.fields.setdefault(name, (attrs["type"], [], []))
            offered.append(attrs.get("value", "on"))
            if "checked" in attrs:
                checked.append(attrs.get("value", "on"))
        elif tag == "input" and name and attrs.get("type") != "hidden":
            self.fields[name] = ("text", [], [attrs.get("value") or ""])
        elif tag == "input" and name:
            self.fields[name] = ("hidden", [], [attrs.get("value") or ""])
        elif tag == "textarea" and name:
            self.fields[name] = ("text", [], [])
        elif tag == "select" and name:
            self._select = name
            self.fields[name] = ("radio", [], [])
        elif tag == "option" and self._select:
            self.fields[self._select][1].append(attrs.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def filled_in(page: str, **answers: str | list[str]) -> list[tuple[str, str]]:
    """The form body a participant sends: `answers` as given; every other question answered with
    what the page already holds, else its first choice (a group of check boxes: its first; a
    lone check box, such as a request, stays as it is) or a few words."""
    parser = _FormFields()
    parser.feed(page)
    body = []
    for name, (kind, offered, checked) in parser.fields.items():
        if name in answers:
            given = answers[name]
            values = [given] if isinstance(given, str) else list(given)
        elif checked and any(checked):
            values = checked
        elif kind == "radio":
            values = offered[:1]
        elif kind == "checkbox":
            values = offered[:1] if len(offered) > 1 else []
        elif kind == "text":
            values = [f"Some words on {name.replace('_', ' ')}"]
        else:
            values = []
        body += [(name, value) for value in values]
    unknown = set(answers) - set(parser.fields)
    assert not unknown, f"the form asks no {sorted(unknown)}"
    return body


def every_answer(fields) -> bytes:
    """A form body answering every question, the way a participant would."""
    answers = []
    for field in fields:
        if field.kind == "choice":
            answers.append((field.name, field.choices[-1][0]))
        elif field.kind == "choices":
            answers += [(field.name, value) for value, _ in field.choices[:2]]
        elif field.kind == "yes_no":
            answers.append((field.name, "yes"))
        elif field.kind == "integer":
            answers.append((field.name, str(field.minimum or 1)))
        else:
            answers.append((field.name, f"Some words on {field.label.lower()}"))
    return urlencode(answers).encode()
