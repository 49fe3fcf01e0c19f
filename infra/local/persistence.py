"""Keep the sandbox's data across restarts, in a git-ignored folder.

A snapshot holds every table's items, the inbound bucket's objects and the
sandbox clock. Sent mail is archived as it appears in moto's SES, because
moto cannot be told about mail sent before it started.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
from datetime import timedelta
from email import message_from_string, policy
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

from chalicelib.adapters import aws
from chalicelib.domain import clock
from chalicelib.adapters.config import settings
from chalicelib.adapters.models import ALL_MODELS

SNAPSHOT = "snapshot.json"
MAILBOX = "mailbox.jsonl"
KEY = "signing-key"


def erase(data_dir: Path) -> None:
    if data_dir.exists():
        shutil.rmtree(data_dir)


class Persistence:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.archived_from_moto = 0

    def signing_key(self) -> str:
        path = self.data_dir / KEY
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def save(self) -> None:
        dynamodb, s3 = aws.client("dynamodb"), aws.client("s3")
        tables = {}
        for model in ALL_MODELS:
            items = []
            for page in dynamodb.get_paginator("scan").paginate(TableName=model.Meta.table_name):
                items.extend(page["Items"])
            tables[model.Meta.table_name] = items
        objects = {}
        bucket = settings().inbound_bucket
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for entry in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
                objects[entry["Key"]] = base64.b64encode(body).decode("ascii")
        snapshot = {"tables": tables, "objects": objects, "clock_offset_seconds": clock.offset().total_seconds()}
        self._write_atomically(self.data_dir / SNAPSHOT, json.dumps(snapshot))
        self._archive_new_mail()

    def restore(self) -> None:
        path = self.data_dir / SNAPSHOT
        if not path.exists():
            return
        snapshot = json.loads(path.read_text())
        dynamodb, s3 = aws.client("dynamodb"), aws.client("s3")
        for table, items in snapshot["tables"].items():
            for start in range(0, len(items), 25):
                batch = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
                dynamodb.batch_write_item(RequestItems={table: batch})
        for key, body in snapshot["objects"].items():
            s3.put_object(Bucket=settings().inbound_bucket, Key=key, Body=base64.b64decode(body))
        clock.set_offset(timedelta(seconds=snapshot.get("clock_offset_seconds", 0)))

    def mailbox(self) -> list[dict]:
        self._archive_new_mail()
        path = self.data_dir / MAILBOX
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def _archive_new_mail(self) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        sent = ses_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_DEFAULT_REGION"]].sent_messages
        fresh = sent[self.archived_from_moto:]
        if not fresh:
            return
        with (self.data_dir / MAILBOX).open("a", encoding="utf-8") as archive:
            for message in fresh:
                archive.write(json.dumps(mailbox_entry(message.id, message.raw_data)) + "\n")
        self.archived_from_moto += len(fresh)

    @staticmethod
    def _write_atomically(path: Path, text: str) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(path)


def mailbox_entry(message_id: str, raw: str) -> dict:
    message = message_from_string(raw, policy=policy.default)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    try:
        sent_at = clock.iso(parsedate_to_datetime(message["Date"]))
    except (TypeError, ValueError):
        sent_at = clock.iso(clock.now())
    return {
        "id": message_id,
        "to": [address for _, address in getaddresses(message.get_all("To", []))],
        "from": getaddresses(message.get_all("From", []))[0][1] if message["From"] else "",
        "reply_to": [address for _, address in getaddresses(message.get_all("Reply-To", []))],
        "subject": str(message["Subject"] or ""),
        "text": text_part.get_content().replace("\r\n", "\n") if text_part else "",
        "html": html_part.get_content().replace("\r\n", "\n") if html_part else "",
        "sent_at": sent_at,
    }
