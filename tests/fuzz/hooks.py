"""Schemathesis hooks for Gantry's API fuzz test (crates/gantry/tests/api_fuzz.rs).

Registers one check beside Schemathesis' own: every 4xx/5xx answer of a REST API carries
Gantry's (WSO2's) JSON error body `{"code", "message", "description"}` with the status.
"""

import json

import schemathesis
from hypothesis.internal import lambda_sources as _lambda_sources

# Hypothesis names the lambdas Schemathesis filters with by parsing their source with `ast`.
# The CPython 3.11 this runs on can fail that parse at random with "SystemError: AST
# constructor recursion depth mismatch" (a CPython bug fixed in later releases), which ends the
# run as a runtime error of the tool, not as a finding about the server. The name only ever
# appears in messages: fall back to Hypothesis' own form for a lambda it cannot read.
_describe_lambda = _lambda_sources._lambda_description


def _described_lambda(f, *args, **kwargs):
    try:
        return _describe_lambda(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


_lambda_sources._lambda_description = _described_lambda


@schemathesis.check
def json_error_body(ctx, response, case):
    """An error status comes with `application/json` `{"code": <status>, "message": ...}`."""
    if response.status_code < 400:
        return None
    content_type = ";".join(response.headers.get("content-type", [""])).lower()
    if case.method.upper() == "HEAD":
        # A HEAD answer has no body (RFC 9110 §9.3.2), only the headers a GET would have.
        if not content_type.startswith("application/json"):
            raise AssertionError(
                f"HEAD {response.status_code} answered with Content-Type {content_type or 'none'!r}, "
                "not the JSON error shape's"
            )
        return None
    if not content_type.startswith("application/json"):
        raise AssertionError(
            f"{response.status_code} answered with Content-Type {content_type or 'none'!r}, "
            f"not the JSON error shape: {response.content[:200]!r}"
        )
    try:
        body = json.loads(response.content)
    except ValueError as error:
        raise AssertionError(f"{response.status_code} body is not JSON ({error}): {response.content[:200]!r}")
    if not isinstance(body, dict) or not isinstance(body.get("message"), str) or body.get("code") != response.status_code:
        raise AssertionError(
            f"{response.status_code} body lacks the error shape "
            f'{{"code": {response.status_code}, "message": "..."}}: {body!r:.300}'
        )
    return None
