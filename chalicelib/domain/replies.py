"""Inbound email replies: read the raw MIME a participant sent and interpret it.

Participants answer check-in, feedback and evaluation mails from their own mail
programs. This module turns those raw bytes into the latest reply text (quoted
history, forwarded mail and signatures removed), detects auto-replies, reads a
1/2/3 rating and rematch requests from the text, finds the reply token among the
envelope recipients and turns SES receipt verdicts into a quarantine reason.

Everything here is pure: it takes bytes, strings and dicts and returns frozen
dataclasses. It must not import chalice, boto3 or pynamodb; the SNS handler
fetches the mail from S3 and calls in.

Two standard-library traps shape the code (Python 3.11.7):
- ``email.policy.default`` parses structured headers with a parser that raises
  RecursionError/IndexError on hostile values and is quadratic in header length,
  even inside ``parsebytes`` (a 60 KB Content-Type took 26 s). Mail is therefore
  parsed with ``BytesParser(policy=compat32)``, which splits headers simply, and
  the few headers used here are decoded explicitly, with length caps.
- ``html.parser`` is quadratic on unclosed tags (15 KB of ``<a `` took 1.7 s), so
  HTML is defused before parsing (see ``_defuse_html``).

Quote and signature stripping uses mail-parser-reply; the small steps around it
are documented in ``extract_reply``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import NamedTuple

from mailparser_reply import EmailMessage
from mailparser_reply.constants import MAIL_LANGUAGES

# --- Vocabularies: declared once, used by the functions below ----------------

# Answers in words (1 going well, 2 some concerns, 3 need help). Regex fragments, matched case-insensitively at word
# boundaries. When a reply mentions several ratings the most worried one wins:
# missing a call for help costs more than a false alarm.
RATING_PHRASES: dict[int, tuple[str, ...]] = {
    3: (
        r"needs? (?:some |more |urgent |a little |a bit of )?help",
        r"help (?:is )?needed",
        r"please help",
        r"(?:not|isn't|isn’t) working(?: out)?",
        r"struggling",
        r"^help(?: please)?(?=\s*(?:[!.]|$))",
    ),
    2: (
        r"(?:some|a few|few|minor|several) concerns",
        r"concern(?:s|ed)?",
        r"so[- ]so",
        r"not sure",
        r"unsure",
        r"mixed feelings",
        r"could be better",
        r"not (?:going )?(?:so |that |very |too |really )?(?:well|great|good)",
    ),
    1: (
        r"going (?:really |very |quite |pretty |so )?(?:well|great|good|fine)",
        r"great",
        r"fine",
        r"all good",
        r"(?:very|really|pretty|quite) good",
        r"excellent",
        r"wonderful",
        r"fantastic",
        r"no (?:\w+ )?(?:concerns|problems|issues)",
    ),
}

# Words that may introduce a digit answer anywhere: "Rating: 2", "my answer is 1".
RATING_CUE_WORDS = (
    "rating", "score", "answer", "option", "choice", "rate it", "rate this",
    "rate us", "rate the match",
)

_REMATCH_REQUEST = (
    r"(?:want|would like|'d like|’d like|wish|need|request(?:ing)?|ask(?:ing)? for|"
    r"hoping for|looking for|prefer|(?:can|could|may) (?:i|we) (?:please )?(?:have|get|be given|be assigned))"
)
_OTHER_PARTNER = (
    r"(?:a different|a new|another|some other|someone else as (?:a|my|our)) (?:\w+ )?"
    r"(?:mentor|mentee|partner|match)(?![-\w])"
)
# Asking for a different partner. Each needs a request or a verb of change, so
# "my mentor is different from what I expected" or "another mentor told me"
# are not requests.
REMATCH_PHRASES = (
    rf"{_REMATCH_REQUEST}(?: to (?:have|get|be given|be assigned|request|try))? {_OTHER_PARTNER}",
    r"(?:different|new|another) (?:mentor|mentee|partner|match) please",
    rf"{_REMATCH_REQUEST}(?: to)?(?: (?:a|be|get))? re-?match(?:ed)?\b",
    r"(?:can|could|may) (?:i|we) (?:please )?(?:be|get) re-?matched",
    r"please re-?match",
    r"re-?match(?:ed)?,? please",
    r"^re-?match\b",
    r"(?:re-?)?(?:matched|paired) with (?:someone|somebody) else",
    rf"(?:be|get|being|getting) (?:re-?)?(?:matched|paired) with {_OTHER_PARTNER}",
    r"(?:switch|change|swap|replace)(?:ing)? (?:my |our )?(?:mentor|mentee|partner)s?\b(?!['’])",
)

# A negation shortly before a phrase cancels it: "no concerns", "I don't need
# help" (contractions ending in n't count too).
NEGATION_WORDS = ("not", "no", "never", "without", "hardly", "nothing")

# Subjects of out-of-office replies, matched at the start of the subject.
OUT_OF_OFFICE_SUBJECTS = (
    "out of office", "out of the office", "automatic reply", "auto reply",
    "auto-reply", "autoreply", "auto response", "auto-response",
    "automatic response", "away from the office", "away from my desk",
    "on vacation", "on holiday", "on leave", "abwesenheitsnotiz",
    "automatische antwort", "réponse automatique", "absence du bureau",
    "respuesta automática", "fuera de la oficina", "automatisch antwoord",
    "afwezigheidsbericht",
)

# Headers that mark a machine-sent message. Outlook sets X-Auto-Response-Suppress
# on ordinary mail too, so it is deliberately absent: Exchange auto-replies are
# recognised by their "Automatic reply:" subject instead.
AUTO_REPLY_FLAG_HEADERS = ("X-Autoreply", "X-Autorespond")
AUTO_PRECEDENCE_VALUES = ("bulk", "auto_reply", "junk", "list")

# Markers after which a forwarded message starts (Gmail, Thunderbird, Apple
# Mail). mail-parser-reply knows none of them. Corpus fixtures (in
# tests/fixtures/replies) that need them: forward_gmail_*, forward_thunderbird,
# forward_apple, forward_apple_es.
FORWARD_MARKERS = (
    r"-{5,} ?(?:forwarded message|weitergeleitete nachricht) ?-{5,}",
    r"begin forwarded message:",
    r"inicio del mensaje reenviado:",
)

# Languages whose reply headers ("On ... wrote:", "Am ... schrieb", Outlook's
# "Von:/Gesendet:" block), sign-offs and "Sent from" lines are recognised:
# mail-parser-reply 1.36's own patterns ("da" also matches Norwegian), and for
# "pt" and "vi", which it lacks, those in EXTRA_REPLY_PATTERNS.
REPLY_LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl", "pl", "sv", "da", "zh", "vi", "ko", "ja")

# What mail-parser-reply 1.36 misses, in its own format (language -> pattern
# kind -> regexes) and merged into its patterns; each names the corpus fixture
# that needs it. Its "wrote_header" patterns match one line (headers wrapped
# over two or three lines are joined first, see _header_end); "from_header"
# ones match a block of "Label: value" lines.
EXTRA_REPLY_PATTERNS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "wrote_header": (
            r"^\d{4}-\d\d-\d\d \d{1,2}:\d\d GMT[+-]\d{1,2}:\d\d .+:$",  # gmail_iso_english: older Gmail
            r"^-{2,} ?On .+ wrote ?-{2,}$",  # zoho_dashes
        ),
        "sent_from": (r"Sent (?:from|with) ",),  # windows_mail, typeapp_top, bluemail_top, yahoo_iphone, proton_top
    },
    "es": {"wrote_header": (r"^El .+ escribió ?:$",)},  # gmail_es_wrapped (the library's needs two spaces)
    "fr": {
        "from_header": (r"(?:(?:^|\n)[* ]*(?:De|Envoyé le|Envoyé|À|Objet|Date|Cc) ?:[ *]*.*){2,}",),  # hotmail_fr_envoye_le
        "sent_from": (r"Envoyé (?:de mon|avec) ",),  # ios_fr, proton_fr
    },
    "de": {
        # apple_de without a name after "schrieb", yahoo_de's "hat ... Folgendes geschrieben:"
        "wrote_header": (r"^Am .+ (?:schrieb|geschrieben)(?: .+)?:$",),
        "sent_from": (r"Von meinem .+ gesendet",),  # ios_de, android_de
    },
    "pt": {
        "wrote_header": (r"^Em .+ escreveu ?:$",),  # gmail_pt_top, apple_pt, thunderbird_pt_bottom
        "from_header": (r"(?:(?:^|\n)[* ]*(?:De|Enviado|Enviada|Para|Assunto|Data|Cc):[ *]*.*){2,}",),  # outlook_pt
        "signatures": ("Abraços", "Atenciosamente"),  # gmail_pt_top
        "sent_from": (r"Enviado do meu ",),  # ios_pt, android_pt
    },
    "nl": {
        "wrote_header": (r"^Op .+ (?:schreef .+|het volgende geschreven) ?:$",),  # gmail_nl_top, apple_nl
        "signatures": ("Groetjes",),  # gmail_nl_top
        "sent_from": (r"Verstuurd vanaf mijn ",),  # ios_nl
    },
    "pl": {
        "wrote_header": (
            r"^.+ napisał\(a\) ?:$",  # gmail_pl_top
            r"^W dniu .+ pisze ?:$",  # thunderbird_pl_bottom
            r"^Wiadomość napisana przez .+:$",  # apple_pl
        ),
        "sent_from": (r"Wysłane z ",),  # ios_pl
    },
    "zh": {
        # gmail_zh_top, apple_zh (the library's own pattern's lookahead rejects every line it matches)
        "wrote_header": (r"^.*\d{4}年\d{1,2}月\d{1,2}日.*写道[：:]$",),
        "sent_from": (r"发自我的",),  # ios_zh
    },
    "vi": {
        "wrote_header": (r"^Vào .+ đã viết ?:$",),  # gmail_vi_top, ios_vi
        "from_header": (r"(?:(?:^|\n)[* ]*(?:Từ|Đã gửi|Đến|Chủ đề|Cc):[ *]*.*){2,}",),  # outlook_vi
        "sent_from": (r"Được gửi từ ",),  # ios_vi
    },
    "ko": {
        "wrote_header": (
            r"^\d{4}년 \d{1,2}월 \d{1,2}일 .+님이 작성 ?:$",  # gmail_ko_top
            r"^\d{4}\. \d{1,2}\. \d{1,2}\. .+ 작성 ?:$",  # ios_ko
        ),
    },
}

# Reply addresses look like reply+TOKEN@<reply domain>; TOKEN is base32 without
# padding (either alphabet), opaque here.
REPLY_ADDRESS_PREFIX = "reply"

# --- Limits that keep hostile mail cheap --------------------------------------

# The latest reply sits at the top (or right under a dropped quote), so only
# this much of the participant's text is kept, from at most this much body:
# every line is tested for a reply header, quoted lines included.
MAX_REPLY_SCAN_CHARS = 20_000
MAX_BODY_SCAN_CHARS = 1_000_000
# mail-parser-reply's "On ... wrote:" regex is quadratic in line length (a
# 20,000-character line took 6 s); no attribution line is this long, so longer
# lines are set aside during quote detection and restored afterwards.
LONG_LINE_CHARS = 300
MAX_HTML_CHARS = 1_000_000
MAX_HEADER_CHARS = 10_000
MAX_MULTIPART_DEPTH = 20

UNEXPECTED_FAILURE = "unexpected parser failure"

VERDICT_LABELS = {
    "spamVerdict": "spam check",
    "virusVerdict": "virus check",
    "spfVerdict": "SPF",
    "dkimVerdict": "DKIM",
    "dmarcVerdict": "DMARC",
}


# --- Results ------------------------------------------------------------------

@dataclass(frozen=True)
class ParsedMail:
    """One received mail, reduced to what the mentoring program needs.

    Address fields hold lowercased addr-specs. ``problem`` is set, and the text
    fields are empty, when the bytes could not be understood as mail."""

    message_id: str
    from_address: str
    to_addresses: tuple[str, ...]
    cc_addresses: tuple[str, ...]
    subject: str
    reply_text: str
    full_text: str
    auto_reply_reason: str | None
    attachment_names: tuple[str, ...]
    problem: str | None


@dataclass(frozen=True)
class Interpretation:
    """What a reply says. ``understood`` means a rating or a rematch request was
    found; free text without either is still kept in ``text``."""

    rating: int | None
    rematch_requested: bool
    text: str
    understood: bool


# --- Parsing ------------------------------------------------------------------

def parse_message(raw: bytes) -> ParsedMail:
    """Parse raw MIME bytes. Never raises: mail that cannot be read comes back
    with ``problem`` set."""
    try:
        return _parse(raw)
    except Exception as error:  # last line of defence: hostile bytes must not crash the handler
        return _unreadable(f"{UNEXPECTED_FAILURE}: {type(error).__name__}: {error}")


def _parse(raw: bytes) -> ParsedMail:
    try:
        message = BytesParser(policy=policy.compat32).parsebytes(raw)
    except RecursionError:  # the stdlib parser recurses once per nested multipart
        return _unreadable("not readable: MIME parts are nested too deeply")
    if not any(_raw_header_values(message, name) for name in ("From", "To", "Subject")):
        return _unreadable("not an email: no From, To or Subject header")

    body = _body_of(message, depth=0)
    attachment_names = tuple(_attachment_names(message))
    headers = dict(
        message_id=_header_text(message, "Message-ID"),
        from_address=next(iter(_addresses(message, "From")), ""),
        to_addresses=_addresses(message, "To"),
        cc_addresses=_addresses(message, "Cc"),
        subject=_decoded_header(message, "Subject"),
        attachment_names=attachment_names,
    )
    auto_reply_reason = _auto_reply_reason(message, headers["subject"])
    if body is None:
        listed = f" (attachments: {', '.join(attachment_names)})" if attachment_names else ""
        return ParsedMail(
            **headers, reply_text="", full_text="", auto_reply_reason=auto_reply_reason,
            problem=f"no text body{listed}",
        )
    return ParsedMail(
        **headers, reply_text=extract_reply(body), full_text=body,
        auto_reply_reason=auto_reply_reason, problem=None,
    )


def _unreadable(problem: str) -> ParsedMail:
    return ParsedMail(
        message_id="", from_address="", to_addresses=(), cc_addresses=(), subject="",
        reply_text="", full_text="", auto_reply_reason=None, attachment_names=(),
        problem=problem,
    )


# --- Headers ------------------------------------------------------------------

def _raw_header_values(message: Message, name: str) -> list[str]:
    wanted = name.lower()
    return [str(value) for key, value in message.raw_items() if key.lower() == wanted]


def _header_text(message: Message, name: str) -> str:
    """First value of a header, unfolded, 8-bit bytes decoded, capped."""
    values = _raw_header_values(message, name)
    return _unfold(values[0]) if values else ""


def _unfold(value: str) -> str:
    # BytesParser keeps 8-bit header bytes as surrogate escapes (RFC 6532 UTF-8
    # headers, or a legacy charset); turn them back into text.
    value = value[:MAX_HEADER_CHARS]
    try:
        raw_bytes = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate from an RFC 2231 value in UTF-7 or the like
        raw_bytes = value.encode("utf-8", "replace")
    return re.sub(r"\s*\r?\n[ \t]+", " ", _decode_bytes(raw_bytes, None)).strip()


def _decoded_header(message: Message, name: str) -> str:
    values = _raw_header_values(message, name)
    return _decode_words(values[0]) if values else ""


def _decode_words(value: str) -> str:
    """Unfold and decode RFC 2047 encoded words (subjects, and the filenames
    Outlook and Gmail send); a bad encoding stays as sent."""
    decoded = _unfold(value)
    if "=?" not in decoded:
        return decoded
    try:
        parts = decode_header(decoded)
    except (HeaderParseError, ValueError):
        return decoded
    return "".join(
        part if isinstance(part, str) else _decode_bytes(part, charset) for part, charset in parts
    ).strip()


def _addresses(message: Message, name: str) -> tuple[str, ...]:
    values = [_unfold(value) for value in _raw_header_values(message, name)]
    try:
        pairs = getaddresses(values)
    except (RecursionError, ValueError, IndexError):  # e.g. thousands of nested "(" comments
        return ()
    return tuple(address.lower() for _, address in pairs if "@" in address)


def _auto_reply_reason(message: Message, subject: str) -> str | None:
    auto_submitted = _header_text(message, "Auto-Submitted")
    if auto_submitted and auto_submitted.split(";")[0].strip().lower() != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for name in AUTO_REPLY_FLAG_HEADERS:
        flag = _header_text(message, name) if _raw_header_values(message, name) else None
        if flag is not None and flag.lower() not in ("no", "false"):
            return f"{name}: {flag}"
    precedence = _header_text(message, "Precedence").lower()
    if precedence in AUTO_PRECEDENCE_VALUES:
        return f"Precedence: {precedence}"
    if message.get_content_type() == "multipart/report":
        return "delivery status report (multipart/report)"
    if _OUT_OF_OFFICE_SUBJECT.match(subject):
        return f"out-of-office subject: {subject}"
    return None


_OUT_OF_OFFICE_SUBJECT = re.compile(
    r"\s*(?:\[[^\]]{0,40}\]\s*)?(?:%s)\b" % "|".join(map(re.escape, OUT_OF_OFFICE_SUBJECTS)),
    re.IGNORECASE,
)


# --- Bodies and attachments ---------------------------------------------------

def _body_of(part: Message, depth: int) -> str | None:
    """The readable text of a MIME part, or None when it has none.

    multipart/alternative yields one alternative with text (plain text
    preferred, as the HTML one says the same thing); other multiparts join their
    text parts, as Apple Mail splits a body around inline images. Attached
    messages (message/rfc822) are attachments, not body."""
    if depth > MAX_MULTIPART_DEPTH:
        return None
    content_type = part.get_content_type()
    if content_type.startswith("multipart/") and part.is_multipart():
        children = [child for child in part.get_payload() if isinstance(child, Message)]
        if content_type == "multipart/alternative":
            # Plain text first: converting an HTML alternative that goes unused
            # was a fifth of the parsing time.
            children.sort(key=lambda child: child.get_content_type() != "text/plain")
            found_empty = False
            for child in children:
                text = _body_of(child, depth + 1)
                if text and text.strip():
                    return text
                found_empty = found_empty or text is not None
            return "" if found_empty else None
        texts = [text for child in children if (text := _body_of(child, depth + 1)) is not None]
        return "\n\n".join(text for text in texts if text.strip()) if texts else None
    if _is_attachment(part) or content_type not in ("text/plain", "text/html"):
        return None
    text = _decode_bytes(_payload_bytes(part), _charset(part)).replace("\r\n", "\n")
    return html_to_text(text) if content_type == "text/html" else text


def _is_attachment(part: Message) -> bool:
    return part.get_content_disposition() == "attachment" or part.get_filename() is not None


def _attachment_names(message: Message) -> list[str]:
    """Names of the parts that are not body text: the filename, or the content
    type in parentheses when the part has no name (e.g. "(message/rfc822)")."""
    names = []
    pending = [(message, 0)]  # a stack, children pushed in reverse to keep mail order
    while pending:
        part, depth = pending.pop()
        content_type = part.get_content_type()
        if content_type.startswith("multipart/") and part.is_multipart():
            if depth < MAX_MULTIPART_DEPTH:
                pending.extend(
                    (child, depth + 1) for child in reversed(part.get_payload()) if isinstance(child, Message)
                )
            continue
        if _is_attachment(part) or part.get_content_maintype() not in ("text", "multipart"):
            filename = part.get_filename()
            names.append(_decode_words(filename) if filename else f"({content_type})")
    return names


def _payload_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _charset(part: Message) -> str | None:
    charset = part.get_content_charset()
    return charset if isinstance(charset, str) else None


# Labels mail programs use for windows-1252 text: Outlook labels it iso-8859-1,
# which lacks the curly quotes and dashes of 0x80-0x9F (as browsers also assume).
_WINDOWS_1252_LABELS = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "cp819"}
_UNSPECIFIC_LABELS = {None, "us-ascii", "ascii", "unknown-8bit", "x-unknown"}


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset. With no, a vague or an unknown label:
    UTF-8 when the bytes are valid UTF-8, else windows-1252, which maps every
    byte, so a bogus label still yields readable text."""
    if charset in _WINDOWS_1252_LABELS:
        charset = "windows-1252"
    if charset not in _UNSPECIFIC_LABELS:
        try:
            return data.decode(charset, errors="replace")
        except (LookupError, UnicodeError, ValueError):  # unknown name, or a non-text codec such as "base64"
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("windows-1252", errors="replace")


# --- HTML ---------------------------------------------------------------------

def html_to_text(html: str) -> str:
    """Plain text of an HTML body. Clearly quoted history (Gmail's gmail_quote,
    <blockquote type="cite"> of Apple Mail and Thunderbird, Yahoo's
    yahoo_quoted) comes out as "> " lines, which reply extraction drops."""
    converter = _HtmlText()
    converter.feed(_defuse_html(html[:MAX_HTML_CHARS]))
    converter.close()
    return converter.text()


_UNCLOSED_TAG_OPEN = re.compile(r"<(?![^<>]*>)")


def _defuse_html(html: str) -> str:
    """Remove comments and escape every "<" that is not closed by ">" before the
    next "<". html.parser rescans the rest of the document for each unclosed
    construct, which is quadratic; after this step it never has to. Comments go
    first because Outlook's conditional comments contain tags."""
    pieces = []
    position = 0
    while (start := html.find("<!--", position)) != -1:
        pieces.append(html[position:start])
        end = html.find("-->", start + 4)
        position = len(html) if end == -1 else end + 3
    pieces.append(html[position:])
    return _UNCLOSED_TAG_OPEN.sub("&lt;", "".join(pieces))


_VOID_TAGS = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
    "param", "source", "track", "wbr",
}
_BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
    "li", "ol", "p", "pre", "section", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
_HIDDEN_TAGS = {"head", "script", "style", "template", "title", "noscript", "xml"}
_QUOTE_CLASSES = {"gmail_quote", "gmail_quote_container", "yahoo_quoted", "moz-cite-prefix", "protonmail_quote"}


class _OpenElement(NamedTuple):
    tag: str
    quotes: bool
    hides: bool


class _HtmlText(HTMLParser):
    """Collects text lines; counters rather than scans of the open-element
    stack keep deeply nested hostile HTML linear."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._lines: list[str] = []
        self._line: list[str] = []
        self._line_quoted = False
        self._open: list[_OpenElement] = []
        self._open_counts: dict[str, int] = {}
        self._quoting = 0
        self._hiding = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            if tag in ("br", "hr"):
                self._end_line(force=tag == "br")
            return
        attributes = {name: (value or "") for name, value in attrs}
        quotes = bool(set(attributes.get("class", "").split()) & _QUOTE_CLASSES) or (
            tag == "blockquote" and attributes.get("type", "").lower() == "cite"
        )
        if tag in _BLOCK_TAGS:
            self._end_line(force=False)
        element = _OpenElement(tag, quotes, tag in _HIDDEN_TAGS)
        self._open.append(element)
        self._open_counts[tag] = self._open_counts.get(tag, 0) + 1
        self._quoting += element.quotes
        self._hiding += element.hides

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "br":  # "</br>" is read as <br> by browsers too
            self._end_line(force=True)
            return
        if self._open_counts.get(tag):  # else a stray end tag: ignored
            while True:  # close everything opened after the matching element
                element = self._open.pop()
                self._open_counts[element.tag] -= 1
                self._quoting -= element.quotes
                self._hiding -= element.hides
                if element.tag == tag:
                    break
        if tag in _BLOCK_TAGS:
            self._end_line(force=False)
            if tag == "p":
                self._end_line(force=True)

    def handle_data(self, data: str) -> None:
        if self._hiding:
            return
        if not self._open_counts.get("pre"):
            data = re.sub(r"\s+", " ", data)
        first, *more_lines = data.split("\n")
        self._append(first)
        for line in more_lines:
            self._end_line(force=True)
            self._append(line)

    def _append(self, data: str) -> None:
        if not data.strip() and not self._line:
            return
        self._line.append(data)
        if self._quoting:
            self._line_quoted = True

    def _end_line(self, force: bool) -> None:
        line = "".join(self._line).strip()
        if line or force:
            self._lines.append(f"> {line}".rstrip() if self._line_quoted else line)
        self._line = []
        self._line_quoted = False

    def text(self) -> str:
        self._end_line(force=False)
        return re.sub(r"\n{3,}", "\n\n", "\n".join(self._lines)).strip()


# --- Reply extraction ---------------------------------------------------------

class _ReplyPatterns(EmailMessage):
    """mail-parser-reply's patterns for REPLY_LANGUAGES with EXTRA_REPLY_PATTERNS
    merged in: the library builds every pattern through this method."""

    def _get_language_regex(self, language: str, regex_key: str) -> str:
        known = super()._get_language_regex(language, regex_key) if language in MAIL_LANGUAGES else ""
        extra = "|".join(EXTRA_REPLY_PATTERNS.get(language, {}).get(regex_key, ()))
        return "|".join(part for part in (known, extra) if part)

    def vocabulary(self, regex_key: str) -> str:
        """One alternation of a pattern kind ("signatures", "sent_from") over all languages."""
        return "|".join(filter(None, (self._get_language_regex(language, regex_key) for language in self.languages)))


_PATTERNS = _ReplyPatterns(text="", languages=list(REPLY_LANGUAGES), keep_hyphen_lists=True)
_REPLY_HEADER = _PATTERNS.HEADER_REGEX
_SIGNATURE = _PATTERNS.SIGNATURE_REGEX
_DISCLAIMER = _PATTERNS.DISCLAIMERS_REGEX


_FORWARD_MARKER = re.compile(
    r"^[ \t]*(?:%s)[ \t]*$" % "|".join(FORWARD_MARKERS), re.IGNORECASE | re.MULTILINE
)
_LONG_LINE = re.compile(r"[^\n]{%d,}" % LONG_LINE_CHARS)
_LONG_LINE_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")
# Lines worth testing as (the first line of) a reply header: cheap to check,
# and the library's patterns are slow on long lines.
_MAYBE_HEADER = re.compile(r"[:：]|--")
_ENDS_LIKE_ATTRIBUTION = re.compile(r"(?:[:：]|--)$")
# Every attribution line and header block names a date or an address; prose
# such as "On Monday she wrote:" does not. One that ends the reply (unquoted
# mail follows) names an address or a clock time, as Outlook's "Sent:" line and
# Yahoo's and Zoho's attributions do; prose such as "On 12 March she wrote:"
# or "Sent: 3 weeks ago" does not (test_prose_like_a_header_is_kept).
_DATE_OR_ADDRESS = re.compile(r"\d|@")
_ADDRESS_OR_TIME = re.compile(r"@|(?<!\d)\d{1,2}[:.h]\d\d(?!\d)")
# "-----Original Message-----", "-------- Ursprüngliche Nachricht --------", a
# rule line: part of the reply header directly below it (outlook_rule_line,
# outlook_de_urspruengliche_nachricht, proton_original_message, android_*).
_SEPARATOR_LINE = re.compile(r"[-_]{2,}[^-_]{0,50}[-_]{2,}|[-_]{10,}")
MAX_HEADER_BLOCK_LINES = 8  # From, Sent, To, Cc, Subject and a few wrapped values
MAX_WRAPPED_HEADER_LINES = 3
MAX_WRAPPED_HEADER_CHARS = 400  # Gmail wraps at 78 columns; keeps the library's slow patterns cheap
_SENT_FROM_LINE = re.compile(r"(?:> ?)*(?:%s)(?P<rest>.*)" % _PATTERNS.vocabulary("sent_from"), re.IGNORECASE)
MAX_SENT_FROM_EXTRA_WORDS = 5  # "Sent from" + "Mail for Windows 10", "Yahoo Mail for iPhone", ...
_SIGN_OFFS = _PATTERNS.vocabulary("signatures")
# A sign-off opening a sentence: "Thank you, things are going well with my
# mentor.", Danish "Tak for hjælpen" ("thanks for the help").
_PROSE_AFTER_SIGN_OFF = re.compile(
    r"^(?:> ?)*(?:%s)[\s,.!]*(?:\S+\s+)+\S" % _SIGN_OFFS, re.IGNORECASE
)
# A sign-off is whole words: "Kh" (Danish) does not open "Khalid agreed".
_SIGN_OFF_WORD = re.compile(r"^(?:> ?)*(?:%s)(?![\w/])" % _SIGN_OFFS, re.IGNORECASE)
_SIGNATURE_DELIMITER = re.compile(r"(?:> ?)*(?:--|__|[_-]{32,})")
# Below a sign-off: a name and perhaps a few lines of title and phone number,
# no sentences (gmail_postscript_after_signoff keeps its P.S.).
MAX_SIGN_OFF_BLOCK_LINES = 6
_SENTENCE = re.compile(r"(?:\S+\s+){4,}\S*[.?!]$")
# A mailing-list footer (list_footer_*): a rule, then a line naming the list.
_LIST_FOOTER = re.compile(r"^_{20,}\n(?:.*\n)?.*\bmailing list\b", re.IGNORECASE | re.MULTILINE)
# "-Ana", "- Ben" as the last line (list_footer_*), unless it ends a hyphen list.
_HYPHEN_SIGN_OFF = re.compile(r"[-–—] ?[A-Z][\w'’.]*(?: [A-Z][\w'’.]*)?")
_LIST_ITEM = re.compile(r"[-–—*•] ")


def extract_reply(text: str) -> str:
    """What the participant wrote in a plain-text mail body, trimmed.

    Reply headers ("On ... wrote:" in REPLY_LANGUAGES, Outlook's "From:/Sent:"
    block, "-----Original Message-----") are found with mail-parser-reply's
    patterns plus EXTRA_REPLY_PATTERNS, one line at a time (see _header_end).
    A header followed by ">" quoted lines introduces a quote: it and the quote
    are removed and the text below is kept, so bottom-posted and interleaved
    answers survive. A header followed by unquoted text starts the quoted mail
    itself (Outlook, Yahoo, Android): the reply ends there, if the header
    names an address or a clock time. Around that:
    - before, the text is cut at FORWARD_MARKERS;
    - "Sent from my iPhone" lines are removed as lines, wherever they stand;
    - a signature is cut at "-- " or at a sign-off followed by at most a short
      name block (see _cut_signature); also a list footer and "-Name";
    - very long lines are set aside during all this (see LONG_LINE_CHARS).
    When unsure it keeps text: the committee can read past a stray line, not
    read words that were dropped.
    """
    text = text[:MAX_BODY_SCAN_CHARS].replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if forward := _FORWARD_MARKER.search(text):
        text = text[:forward.start()]
    long_lines: list[str] = []

    def set_aside(match: re.Match[str]) -> str:
        long_lines.append(match.group())
        return f"\x00{len(long_lines) - 1}\x00"

    text = _LONG_LINE.sub(set_aside, text)
    body = "\n".join(_written_lines([line.strip() for line in text.split("\n")]))
    body = re.sub(r"\n{3,}", "\n\n", body).strip()
    if footer := _LIST_FOOTER.search(body):
        body = body[:footer.start()]
    body = "\n".join(line for line in body.split("\n") if not _is_sent_from(line))
    body = _cut_signature(body.strip())
    body = _drop_hyphen_sign_off(body.rstrip())
    for disclaimer in _DISCLAIMER.findall(body):
        body = body.replace(disclaimer.strip(), "")
    body = _LONG_LINE_PLACEHOLDER.sub(lambda match: long_lines[int(match.group(1))], body)
    return re.sub(r"\n{3,}", "\n\n", body).strip()


def _written_lines(lines: list[str]) -> list[str]:
    """The lines the participant wrote: ">" quotes and the headers introducing
    them dropped, up to the first header followed by an unquoted mail."""
    kept: list[str] = []
    kept_chars = 0
    index = 0
    while index < len(lines) and kept_chars < MAX_REPLY_SCAN_CHARS:
        line = lines[index]
        if line.startswith(">"):
            index += 1
            continue
        header = _header_end(lines, index)
        if header is not None:
            header_end, header_text = header
            following = _next_text_line(lines, header_end, len(lines))
            if following is not None and lines[following].startswith(">"):
                index = header_end
                continue
            if _ADDRESS_OR_TIME.search(header_text) or _SEPARATOR_LINE.fullmatch(header_text):
                break
        kept.append(line)
        kept_chars += len(line) + 1
        index += 1
    return kept


def _next_text_line(lines: list[str], start: int, stop: int) -> int | None:
    return next((index for index in range(start, min(stop, len(lines))) if lines[index]), None)


def _header_end(lines: list[str], start: int) -> tuple[int, str] | None:
    """The index after the reply header starting at lines[start] and the
    header's text, or None.

    A separator line ("-----Original Message-----", a rule) belongs to a header
    right below it. An attribution wrapped over two or three lines is joined
    and matched as one line (gmail_top_three_line_header, gmail_fr_wrapped)."""
    if _SEPARATOR_LINE.fullmatch(lines[start]):
        below = _next_text_line(lines, start + 1, start + 3)
        if below is not None and (header := _unseparated_header_end(lines, below)) is not None:
            return header
    return _unseparated_header_end(lines, start)


def _unseparated_header_end(lines: list[str], start: int) -> tuple[int, str] | None:
    first = lines[start]
    if not first or first.startswith(">"):
        return None
    if _MAYBE_HEADER.search(first):
        block = "\n".join(lines[start:start + MAX_HEADER_BLOCK_LINES])
        match = _REPLY_HEADER.match(block)
        if match and _names_date_or_address(match.group()):
            return start + match.group().rstrip("\n").count("\n") + 1, match.group()
    for count in range(2, MAX_WRAPPED_HEADER_LINES + 1):
        wrapped = lines[start:start + count]
        if len(wrapped) < count or not all(wrapped) or any(line.startswith(">") for line in wrapped):
            return None
        joined = " ".join(wrapped)
        if len(joined) > MAX_WRAPPED_HEADER_CHARS:
            return None
        if _ENDS_LIKE_ATTRIBUTION.search(wrapped[-1]) and _REPLY_HEADER.fullmatch(joined) \
                and _names_date_or_address(joined):
            return start + count, joined
    return None


def _names_date_or_address(header: str) -> bool:
    return bool(_DATE_OR_ADDRESS.search(header) or _SEPARATOR_LINE.fullmatch(header.strip()))


def _is_sent_from(line: str) -> bool:
    match = _SENT_FROM_LINE.match(line)
    return bool(match) and len(match.group("rest").split()) <= MAX_SENT_FROM_EXTRA_WORDS


def _cut_signature(text: str) -> str:
    """Cut at mail-parser-reply's signature match when it is a "-- " line, or a
    whole-word sign-off ("Thanks,", "Viele Grüße") that does not open a
    sentence and has only a short block without sentences below it."""
    position = 0
    while match := _SIGNATURE.search(text, position):
        opening = match.start() + len(match.group()) - len(match.group().lstrip())
        line_end = text.find("\n", opening)
        line_end = len(text) if line_end == -1 else line_end
        line = text[opening:line_end]
        if _SIGNATURE_DELIMITER.fullmatch(line.strip()) or _is_sign_off(line, text[line_end:]):
            return text[:match.start()]
        if line_end == len(text):
            break
        position = line_end
    return text


def _is_sign_off(line: str, below: str) -> bool:
    if not _SIGN_OFF_WORD.match(line) or _PROSE_AFTER_SIGN_OFF.match(line):
        return False
    block = [row for row in below.split("\n") if row.strip()]
    return len(block) <= MAX_SIGN_OFF_BLOCK_LINES and not any(_SENTENCE.search(row.strip()) for row in block)


def _drop_hyphen_sign_off(text: str) -> str:
    lines = text.split("\n")
    if len(lines) < 2 or not _HYPHEN_SIGN_OFF.fullmatch(lines[-1]):
        return text
    previous = next((line for line in reversed(lines[:-1]) if line), "")
    return text if _LIST_ITEM.match(previous) else "\n".join(lines[:-1])


# --- Interpretation -----------------------------------------------------------

_GREETING = re.compile(
    r"\s*(?:hi|hello|hey|dear|greetings|good (?:morning|afternoon|evening|day))\b[^\n]{0,60}\n",
    re.IGNORECASE,
)


def _phrase_pattern(phrases: tuple[str, ...]) -> str:
    """Alternation of phrases at word boundaries; a phrase starting with "^"
    must open a line instead."""
    return "|".join(phrase if phrase.startswith("^") else rf"\b(?:{phrase})" for phrase in phrases)


_RATING_WORDS = {
    rating: re.compile(rf"(?:{_phrase_pattern(phrases)})\b", re.IGNORECASE | re.MULTILINE)
    for rating, phrases in RATING_PHRASES.items()
}
_ANY_RATING_PHRASE = "|".join(phrase.lstrip("^") for phrases in RATING_PHRASES.values() for phrase in phrases)
# A digit standing alone at the start: "1", "2.", "3 -", "(1)", "#2", "2 some
# concerns" - but not "2 times", "1.5 hours" or "3-4 meetings".
_LEADING_DIGIT = re.compile(
    r"\s*[(\[#]?\s*([123])"
    r"(?:\s*[)\]]|\s*[.:,;!=\-–—/](?!\s*\d)|[ \t]*(?=\n|\Z)|[ \t]+\(?(?=(?:%s)\b))[ \t]*" % _ANY_RATING_PHRASE,
    re.IGNORECASE,
)
# A digit after a cue anywhere: "Rating: 2", "my answer is 1", "I'd rate it a 3".
_CUED_DIGIT = re.compile(
    r"\b(?:%s)\b(?:\s*(?:is|would be|of|as|at|a|=|:|-))*\s*[(\[#]?([123])(?!\d|[.,/]\d)"
    % "|".join(map(re.escape, RATING_CUE_WORDS)),
    re.IGNORECASE,
)
_REMATCH = re.compile(_phrase_pattern(REMATCH_PHRASES), re.IGNORECASE | re.MULTILINE)
_NEGATED_TAIL = re.compile(
    r"(?:\b(?:%s)|n['’]t)\s+(?:[\w'’]+\s+){0,2}\Z" % "|".join(NEGATION_WORDS), re.IGNORECASE
)
_CLAUSE_BREAK = re.compile(r"[.,;:!?\n]|\bbut\b", re.IGNORECASE)


def interpret(reply_text: str) -> Interpretation:
    """Read a rating (1 going well, 2 some concerns, 3 need help) and a rematch
    request from a reply.

    A digit counts when it stands alone at the start (after an optional
    greeting line) or follows a cue such as "Rating:"; a leading digit is then
    removed from ``text``. Otherwise rating words decide, the most worried
    rating winning. Phrases right after a negation ("no concerns", "don't need
    help") do not count."""
    text = reply_text.strip()
    greeting = _GREETING.match(text)
    after_greeting = greeting.end() if greeting else 0
    rating = None
    kept_text = text
    if leading := _LEADING_DIGIT.match(text, after_greeting):
        rating = int(leading.group(1))
        kept_text = re.sub(r"\n{3,}", "\n\n", text[:after_greeting] + text[leading.end():]).strip()
    elif cued := _CUED_DIGIT.search(text):
        rating = int(cued.group(1))
    else:
        for worried_first in sorted(_RATING_WORDS, reverse=True):
            if _mentions(_RATING_WORDS[worried_first], text):
                rating = worried_first
                break
    rematch_requested = _mentions(_REMATCH, text)
    return Interpretation(
        rating=rating,
        rematch_requested=rematch_requested,
        text=kept_text,
        understood=rating is not None or rematch_requested,
    )


def _mentions(pattern: re.Pattern[str], text: str) -> bool:
    return any(not _is_negated(text, match.start()) for match in pattern.finditer(text))


def _is_negated(text: str, start: int) -> bool:
    before = text[max(0, start - 60):start]
    clause = _CLAUSE_BREAK.split(before)[-1]
    return bool(_NEGATED_TAIL.search(clause))


# --- Routing and trust --------------------------------------------------------

def reply_token(recipients: list[str], reply_domain: str) -> str | None:
    """The TOKEN of the first reply+TOKEN@reply_domain among the envelope
    recipients, lowercased; None when no recipient is a reply address."""
    domain = reply_domain.strip().rstrip(".").lower()
    pattern = re.compile(rf"{REPLY_ADDRESS_PREFIX}\+([a-z0-9]+)@{re.escape(domain)}\.?", re.IGNORECASE)
    for recipient in recipients:
        if isinstance(recipient, str) and (match := pattern.fullmatch(recipient.strip().strip("<>"))):
            return match.group(1).lower()
    return None


def verdict_problem(receipt: dict) -> str | None:
    """Why an SES-received mail should be quarantined, or None.

    Quarantine when the spam or virus verdict is not PASS, or when SPF and DKIM
    both FAIL. A receipt without any verdict (scanning switched off on the
    receipt rule) has nothing to judge; once it carries some verdicts, a missing
    spam or virus verdict counts as not PASS. DMARC alone does not quarantine:
    forwarding and mailing lists break it for legitimate senders."""
    if not isinstance(receipt, dict):
        return "SES receipt is missing"
    statuses = {key: _verdict_status(receipt.get(key)) for key in VERDICT_LABELS}
    if all(status is None for status in statuses.values()):
        return None
    reasons = [
        f"{VERDICT_LABELS[key]} {statuses[key] or 'missing'}"
        for key in ("spamVerdict", "virusVerdict")
        if statuses[key] != "PASS"
    ]
    if statuses["spfVerdict"] == "FAIL" and statuses["dkimVerdict"] == "FAIL":
        reasons.append("SPF and DKIM both FAIL")
    return "; ".join(reasons) or None


def _verdict_status(verdict: object) -> str | None:
    if isinstance(verdict, dict) and isinstance(verdict.get("status"), str):
        return verdict["status"].strip().upper()
    return None
