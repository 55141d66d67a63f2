"""An SMTP server for the integration tests, built on aiosmtpd.

Usage: smtp_server.py PORT MAILDIR MODEFILE

Every accepted message is stored in MAILDIR as <n>.eml (the raw message) and <n>.json (the
envelope, subject, headers and decoded text and HTML parts), the JSON written last and renamed
into place so a reader never sees half a file. How the server answers DATA is read from
MODEFILE on every message, so a test can switch it at runtime:

    accept    250 (the default, also when MODEFILE is missing)
    tempfail  451 4.3.0 (a transient failure: the sender should retry)
    permfail  550 5.1.1 (a permanent failure: the sender should give up)
"""

import asyncio
import email
import email.policy
import itertools
import json
import os
import signal
import sys

from aiosmtpd.controller import Controller

TEMPFAIL = "451 4.3.0 Mailbox busy, try again later (test tempfail)"
PERMFAIL = "550 5.1.1 Mailbox unavailable (test permfail)"


class Handler:
    def __init__(self, maildir, modefile):
        self.maildir = maildir
        self.modefile = modefile
        self.counter = itertools.count(1)

    def mode(self):
        try:
            with open(self.modefile) as f:
                return f.read().strip() or "accept"
        except FileNotFoundError:
            return "accept"

    async def handle_DATA(self, server, session, envelope):
        mode = self.mode()
        if mode == "tempfail":
            return TEMPFAIL
        if mode == "permfail":
            return PERMFAIL
        n = next(self.counter)
        raw = envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        parts = {"text": None, "html": None}
        for part in message.walk():
            kind = part.get_content_type()
            if kind == "text/plain" and parts["text"] is None:
                parts["text"] = part.get_content()
            elif kind == "text/html" and parts["html"] is None:
                parts["html"] = part.get_content()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(message.get("Subject", "")),
            "headers": {k: str(v) for k, v in message.items()},
            "text": parts["text"],
            "html": parts["html"],
        }
        base = os.path.join(self.maildir, f"{n:06d}")
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        with open(base + ".json.tmp", "w") as f:
            json.dump(record, f)
        os.rename(base + ".json.tmp", base + ".json")
        return f"250 2.0.0 OK queued as {n}"


def main():
    port, maildir, modefile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    os.makedirs(maildir, exist_ok=True)
    controller = Controller(Handler(maildir, modefile), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    stop = asyncio.Event()

    async def wait():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    asyncio.run(wait())
    controller.stop()


if __name__ == "__main__":
    main()
