"""Jinja2 environments for pages and mail. Autoescaping is on for HTML.

Plain-text mail templates (.txt) are not HTML-escaped: they are never shown
as HTML, and escaping would put entities into people's inboxes.

Templates the committee writes run in a sandbox with limits, because anyone
who can edit one could otherwise stop intake or sign-in with a single line:
- a template may use placeholders, filters, `if` and `for`, nothing else
  (no set, macro, include, recursive loop): so nothing it builds can grow
  beyond its own expressions;
- operators and filters that multiply text are checked before they run, and
  methods are limited to those that do not (SAFE_METHODS);
- one render may run LOOP_BUDGET loop iterations and RENDER_SECONDS of time,
  and produce at most OUTPUT_LIMIT bytes per part;
- `worst_case` makes a mail's sample data as large as real data can get, so a
  template that renders on it at save time renders at send time too.
Past a limit a render raises TemplateLimit.
"""
from __future__ import annotations

import contextvars
import time
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).parents[1] / "templates"

OUTPUT_LIMIT = 100_000  # bytes (UTF-8) in one part of a committee mail: its text, or the HTML made from it
SUBJECT_LIMIT = 4_000  # bytes in a rendered subject: room for both partners' longest names
LOOP_BUDGET = 20_000  # loop iterations in one render
RENDER_SECONDS = 1.0
# The worst case puts this in every text: four bytes in UTF-8, so byte limits are met by any text.
WIDEST_CHARACTER = "\U0001d54e"  # MATHEMATICAL DOUBLE-STRUCK CAPITAL W
SAFE_METHODS = frozenset({"upper", "lower", "title", "capitalize", "casefold", "strip", "lstrip", "rstrip",
                          "startswith", "endswith", "split", "splitlines", "count", "find", "get", "items",
                          "keys", "values", "cycle", "changed"})
SAFE_FILTERS = ("abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
                "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
                "rejectattr", "replace", "reverse", "round", "select", "selectattr", "sort", "string", "striptags",
                "title", "trim", "truncate", "unique", "upper", "wordcount")


class TemplateLimit(Exception):
    """A committee template went past one of its limits while rendering; says which, in words."""


@lru_cache(maxsize=1)
def environment():
    import jinja2

    from chalicelib.domain import cohort_phases, plain_words, schema

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
    env.filters["in_words"] = plain_words.in_words
    env.filters["state_name"] = plain_words.state_name
    env.filters["state_explanation"] = plain_words.state_explanation
    env.filters["history_sentence"] = plain_words.history_sentence
    env.filters["day_in_words"] = plain_words.day_in_words
    env.filters["next_step"] = plain_words.next_step
    env.filters["action_label"] = plain_words.action_label
    env.filters["action_explanation"] = plain_words.action_explanation
    env.filters["phase"] = cohort_phases.phase_of
    return env


def library_type_label(value: str) -> str:
    """A filter of page and mail templates (committee-edited mail too): "academic" -> "Academic library"."""
    from chalicelib.domain import schema

    return schema.label_of(schema.LIBRARY_TYPES, value)


def render(name: str, **context) -> str:
    return environment().get_template(name).render(**context)


# --- Committee templates ----------------------------------------------------------------

class _Budget:
    def __init__(self):
        self.iterations = LOOP_BUDGET
        self.deadline = time.perf_counter() + RENDER_SECONDS  # a stopwatch, not the program's clock

    def spend(self) -> None:
        self.iterations -= 1
        if self.iterations < 0:
            raise TemplateLimit(f"its loops would run more than {LOOP_BUDGET:,} times")
        self.check_time()

    def check_time(self) -> None:
        if time.perf_counter() > self.deadline:
            raise TemplateLimit(f"it would take longer than {RENDER_SECONDS:g} s to write")


_budget: contextvars.ContextVar[_Budget] = contextvars.ContextVar("committee_render_budget")


def _within(size: int) -> None:
    if size > OUTPUT_LIMIT:
        raise TemplateLimit(f"it would be longer than {OUTPUT_LIMIT // 1000} KB")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple)) else 0


def _counted(iterable):
    """Every `for` of a committee template iterates through this (see _bounded)."""
    budget = _budget.get(None)
    if budget is None:
        raise TemplateLimit("it was rendered without its budget")
    for item in iterable:
        budget.spend()
        yield item


def _joined(items) -> str:
    """The `~` operator, its length checked before the text is built."""
    texts = [str(item) for item in items]
    _within(sum(map(len, texts)))
    return "".join(texts)


def _join(value, separator="", attribute=None):
    items = [str(item if attribute is None else item[attribute]) for item in value]
    _within(sum(map(len, items)) + len(str(separator)) * max(len(items) - 1, 0))
    return str(separator).join(items)


def _replace(value, old, new, count=None):
    text, old, new = str(value), str(old), str(new)
    found = len(text) + 1 if not old else text.count(old)
    if count is not None:
        found = min(found, max(int(count), 0))
    _within(len(text) + found * max(len(new) - len(old), 0))
    return text.replace(old, new, -1 if count is None else max(int(count), 0))


@lru_cache(maxsize=1)
def committee_environment():
    """The sandbox committee templates compile and render in (see the module's docstring)."""
    from jinja2 import StrictUndefined
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class LimitedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "%", "+"})

        def is_safe_attribute(self, obj, attr, value):
            return super().is_safe_attribute(obj, attr, value) and (not callable(value) or attr in SAFE_METHODS)

        def wrap_str_format(self, value):
            if super().wrap_str_format(value) is None:
                return None

            def refused(*args, **kwargs):
                raise SecurityError("templates cannot format text with .format: a width can make it any size")
            return refused

        def call_binop(self, context, operator, left, right):
            if operator == "%" and isinstance(left, str):
                raise SecurityError("templates cannot format text with %")
            if operator == "*":
                _within(_size(left) * right if isinstance(right, int) else _size(right) * left
                        if isinstance(left, int) else 0)
            elif operator == "+":
                _within(_size(left) + _size(right))
            elif operator == "**" and isinstance(left, (int, float)) and isinstance(right, (int, float)) \
                    and abs(right) * max(abs(int(left)).bit_length(), 1) > 4096:
                raise TemplateLimit("its numbers would grow too large")
            return super().call_binop(context, operator, left, right)

    env = LimitedSandbox(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)
    env.globals.clear()  # no range, cycler, joiner, namespace...: only the mail's placeholders
    env.filters = {name: env.filters[name] for name in SAFE_FILTERS}
    env.filters.update({"join": _join, "replace": _replace, "library_type": library_type_label,
                        "_counted": _counted, "_joined": _joined})
    return env


@lru_cache(maxsize=256)
def committee_template(source: str):
    """A committee template, compiled with its loops counted; TemplateSyntaxError (with the
    line) when it does not parse or uses more than placeholders, filters, if and for."""
    env = committee_environment()
    tree = env.parse(source)
    tree = _bounded(tree)
    tree.set_environment(env)
    return env.from_string(tree)


def _bounded(tree):
    from jinja2 import TemplateSyntaxError, nodes
    from jinja2.visitor import NodeTransformer

    allowed = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.Getattr,
               nodes.Getitem, nodes.Slice, nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair, nodes.Keyword,
               nodes.If, nodes.For, nodes.Filter, nodes.Test, nodes.CondExpr, nodes.Compare, nodes.Operand,
               nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Concat, nodes.Add, nodes.Sub,
               nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Pow, nodes.Call)
    tags = {"Assign": "set", "AssignBlock": "set", "Macro": "macro", "CallBlock": "call", "FilterBlock": "filter",
            "Scope": "with", "Include": "include", "Import": "import", "FromImport": "import", "Extends": "extends",
            "Block": "block"}
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, allowed) or isinstance(node, nodes.For) and node.recursive:
            kind = type(node).__name__
            what = "recursive loops" if isinstance(node, nodes.For) else f"\u201c{tags.get(kind, kind.lower())}\u201d"
            raise TemplateSyntaxError(f"Mail templates can use placeholders, filters, if and for, not {what}",
                                      node.lineno)

    class Bounded(NodeTransformer):
        def visit_For(self, node):
            node = self.generic_visit(node)
            node.iter = nodes.Filter(node.iter, "_counted", [], [], None, None, lineno=node.lineno)
            return node

        def visit_Concat(self, node):
            node = self.generic_visit(node)
            return nodes.Filter(nodes.List(node.nodes, lineno=node.lineno), "_joined", [], [], None, None,
                                lineno=node.lineno)

    return Bounded().visit(tree)


def render_committee(template, context: Mapping[str, Any], limit: int = OUTPUT_LIMIT) -> str:
    """Render a committee_template within its budget: at most `limit` bytes, LOOP_BUDGET
    iterations and RENDER_SECONDS; TemplateLimit past any of them."""
    budget = _Budget()
    token = _budget.set(budget)
    try:
        pieces, size = [], 0
        for piece in template.generate(context):
            size += len(piece)
            if size > limit:  # characters so far: the bytes are at least as many
                raise TemplateLimit(f"it would be longer than {limit // 1000} KB")
            budget.check_time()
            pieces.append(piece)
    finally:
        _budget.reset(token)
    return within_part_limit("".join(pieces), limit)


def within_part_limit(text: str, limit: int = OUTPUT_LIMIT) -> str:
    if len(text.encode("utf-8")) > limit:
        raise TemplateLimit(f"it would be longer than {limit // 1000} KB")
    return text


def worst_case(sample: Any, path: str = "") -> Any:
    """The sample data as large as real data can get: each text as long as the form or the
    system lets it be (by placeholder name: LONGEST), each list with as many items as it can
    hold (MOST_ITEMS), every character four bytes wide. Other values stay as they are."""
    longest, most = _sizes()
    name = path.rsplit(".", 1)[-1]
    if isinstance(sample, str) and (path in longest or name in longest):
        return WIDEST_CHARACTER * longest.get(path, longest.get(name))
    if isinstance(sample, Mapping):
        return {key: worst_case(value, f"{path}.{key}" if path else key) for key, value in sample.items()}
    if isinstance(sample, list) and sample:
        count = max(most.get(path, most.get(name, len(sample))), len(sample))
        return [worst_case(sample[index % len(sample)], path) for index in range(count)]
    return sample


@lru_cache(maxsize=1)
def _sizes() -> tuple[dict[str, int], dict[str, int]]:
    from chalicelib.domain import limits, schema

    texts = {field.name: field.max_length for field in schema.FIELDS if field.kind in ("text", "textarea", "email")}
    longest = {**texts, "email": limits.MAX_EMAIL, "address": limits.MAX_EMAIL, "reason": limits.MAX_REASON,
               "text": limits.MAX_ANSWER_TEXT,
               "pair": 2 * texts["name"] + len(" and "), "alerts.text": limits.MAX_ALERT_TEXT}
    most = {"interests": limits.MAX_TOPICS, "communication": len(schema.COMMUNICATION_MODES),
            "alerts": limits.DIGEST_ALERTS}
    return longest, most
