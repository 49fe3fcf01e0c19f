"""The sandbox's own pages: the mailbox that stands in for people's inboxes."""
from __future__ import annotations

import jinja2

_environment = jinja2.Environment(autoescape=True)

MAILBOX = _environment.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox mailbox</title>
<style>
 body { font: 1rem/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem; }
 article { border: 1px solid #b1b4b6; border-radius: 6px; margin: 1rem 0; }
 article header { background: #f3f2f1; padding: .5rem 1rem; }
 dl { display: grid; grid-template-columns: max-content 1fr; gap: 0 1rem; margin: 0; }
 dt { font-weight: 600; }
 iframe { width: 100%; min-height: 24rem; border: 0; border-top: 1px solid #b1b4b6; }
 details { padding: .5rem 1rem; }
 pre { white-space: pre-wrap; }
</style></head>
<body>
<h1>Sandbox mailbox</h1>
<p>Every mail the system has sent, newest first. Links inside point at this sandbox, so you can follow them.
Also as <a href="/_sandbox/mailbox.json">JSON</a> (oldest first).</p>
{% for mail in messages | reverse %}
<article aria-labelledby="subject-{{ loop.index }}">
 <header>
  <h2 id="subject-{{ loop.index }}">{{ mail.subject }}</h2>
  <dl>
   <dt>To</dt><dd>{{ mail.to | join(', ') }}</dd>
   <dt>From</dt><dd>{{ mail.from }}</dd>
   {% if mail.reply_to %}<dt>Reply-To</dt><dd>{{ mail.reply_to | join(', ') }}</dd>{% endif %}
   <dt>Sent</dt><dd>{{ mail.sent_at }}</dd>
  </dl>
 </header>
 <iframe title="{{ mail.subject }} (HTML version)" sandbox="allow-top-navigation-by-user-activation allow-popups" srcdoc="<base target=&quot;_top&quot;>{{ mail.html }}"></iframe>
 <details><summary>Plain-text version</summary><pre>{{ mail.text }}</pre></details>
</article>
{% else %}
<p>No mail has been sent yet. <a href="/apply">Apply</a> to see the confirmation mail arrive here.</p>
{% endfor %}
</body></html>
""")


def mailbox_page(messages: list[dict]) -> str:
    return MAILBOX.render(messages=messages)
