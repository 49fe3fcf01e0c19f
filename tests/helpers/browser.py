"""Browser steps that several browser tests share."""
from __future__ import annotations

import re
from urllib.parse import urlencode

from playwright.sync_api import expect

from tests.helpers import COMMITTEE_EMAIL


def sign_in(page, sandbox) -> None:
    """Ask the sandbox for a committee member's sign-in link, and follow the one it mails."""
    before = len(sandbox.mailbox())
    sandbox.post("/admin/login", urlencode({"email": COMMITTEE_EMAIL}).encode(), "application/x-www-form-urlencoded")
    [mail] = [mail for mail in sandbox.mailbox()[before:] if "sign-in link" in mail["subject"]]
    page.goto(sandbox.base_url + re.search(r"/admin/login/[a-z0-9]+", mail["text"]).group(0))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("dashboard")
