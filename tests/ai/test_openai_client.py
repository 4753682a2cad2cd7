"""The official OpenAI Python client calls a Gantry AI API through the gateway.

Run by crates/gantry/tests/ai_gateway.rs (`openai_python_client_through_the_gateway`), which
starts `gantry up` and stand-in providers and passes, in the environment:
  GANTRY_AI_BASE   the AI API's base URL on the gateway (http://localhost:port/ctx/1.0.0)
  JSON_TOKEN       an access token of an application on a small token tier (JSON calls)
  STREAM_TOKEN     another application's token on that tier (streamed calls)
  PROVIDER_SECRET  the provider key the gateway holds (which the client must never see)
The API's first target answers 429, so every answer comes from the second, "spare".
"""

import os
import sys

import openai
from openai import OpenAI

BASE = os.environ["GANTRY_AI_BASE"]
SECRET = os.environ["PROVIDER_SECRET"]
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def client(token):
    # No client-side retries: a 429 from the gateway must surface.
    return OpenAI(base_url=BASE, api_key=token, max_retries=0, timeout=10)


def messages(text):
    return [{"role": "user", "content": text}]


json_client = client(os.environ["JSON_TOKEN"])

# A JSON answer, failed over from the provider answering 429.
raw = json_client.chat.completions.with_raw_response.create(
    model="gpt-4o", messages=messages("hello from python"), max_tokens=20)
completion = raw.parse()
check(raw.headers.get("x-gantry-ai-provider") == "OpenAI/spare",
      "the answering provider is named: %s" % raw.headers.get("x-gantry-ai-provider"))
check(raw.headers.get("x-gantry-ai-model") == "gpt-4o-mini", "the spare target's model answered")
check(completion.usage is not None and completion.usage.completion_tokens == 20,
      "usage is relayed: %s" % completion.usage)
check(SECRET not in raw.http_response.text and SECRET not in str(raw.headers),
      "the provider key is not in the answer")

# A guardrail refuses with WSO2's shape and a reason.
try:
    json_client.chat.completions.create(model="gpt-4o", messages=messages("my password is x"))
    check(False, "the guardrail refuses the prompt")
except openai.APIStatusError as e:
    check(e.status_code == 446, "the guardrail answers 446 (got %s)" % e.status_code)
    check("900514" in str(e.body) and "no-passwords" in str(e.body),
          "the refusal names the guardrail: %s" % e.body)

# The token budget (60 a minute) runs out: a 429 with WSO2's throttle code.
refused = None
for _ in range(6):
    try:
        json_client.chat.completions.create(
            model="gpt-4o", messages=messages("hello from python"), max_tokens=20)
    except openai.RateLimitError as e:
        refused = e
        break
check(refused is not None, "the JSON token budget ends in a 429")
if refused is not None:
    check(refused.body is not None and "900804" in str(refused.body),
          "the 429 carries code 900804: %s" % refused.body)

# Streamed: chunks arrive one by one, usage in the last; then the budget runs out (a cut
# stream raises an APIError from the SSE error event, the next call a RateLimitError).
stream_client = client(os.environ["STREAM_TOKEN"])
stream = stream_client.chat.completions.create(
    model="gpt-4o", messages=messages("stream please"), max_tokens=10, stream=True,
    stream_options={"include_usage": True})
chunks = list(stream)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
check(len(chunks) > 5, "the answer streamed in %d chunks" % len(chunks))
check(text.startswith("echo:stream please"), "the streamed text arrived: %r" % text[:40])
check(chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 12,
      "the last chunk carries usage: %s" % chunks[-1].usage)
ended = None
for _ in range(8):
    try:
        for _chunk in stream_client.chat.completions.create(
                model="gpt-4o", messages=messages("stream please"), max_tokens=30, stream=True):
            pass
    except openai.RateLimitError as e:
        ended = e
        break
    except openai.APIError as e:
        print("     (a stream was cut: %s)" % e)
check(ended is not None, "the streamed token budget ends in a 429")

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("all checks passed")
