"""OAuth2 / OIDC conformance of Gantry's key manager, driven by independent client libraries.

Authlib (the OAuth2 client) and PyJWT (JOSE verification against the published JWKS) talk
to a running `gantry up`; nothing here shares code with the server. Tests are named after
the recipes of shared/reference/test-catalogue.md section 3 (O1…O22) and, where one
exists, the OpenID Foundation conformance-suite module they stand in for.

Run by crates/gantry/tests/conformance_python.rs, which starts Gantry, creates the
clients and passes them in the environment:

  GANTRY_CP            https://localhost:<port>
  GANTRY_CA            path of the CA certificate to trust
  GANTRY_ADMIN_PASSWORD
  CONFIDENTIAL_ID / CONFIDENTIAL_SECRET   grants: client_credentials, password,
                                          refresh_token, authorization_code
  OTHER_ID / OTHER_SECRET                 a second confidential client (same grants)
  PUBLIC_ID                               public client (PKCE), authorization_code +
                                          refresh_token
  REDIRECT_URI                            registered for all three
"""

import base64
import hashlib
import html.parser
import json
import os
import secrets
import time
import unittest
import urllib.parse

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session

CP = os.environ["GANTRY_CP"]
CA = os.environ["GANTRY_CA"]
ADMIN_PASSWORD = os.environ["GANTRY_ADMIN_PASSWORD"]
CONF_ID = os.environ["CONFIDENTIAL_ID"]
CONF_SECRET = os.environ["CONFIDENTIAL_SECRET"]
OTHER_ID = os.environ["OTHER_ID"]
OTHER_SECRET = os.environ["OTHER_SECRET"]
PUBLIC_ID = os.environ["PUBLIC_ID"]
REDIRECT_URI = os.environ["REDIRECT_URI"]

ISSUER = f"{CP}/oauth2/token"
TOKEN = f"{CP}/oauth2/token"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OAUTH_ERRORS = {
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
    "unsupported_grant_type", "invalid_scope", "slow_down", "temporarily_unavailable",
}


def http():
    s = requests.Session()
    # requests lets REQUESTS_CA_BUNDLE override a session's verify; trust only our CA.
    s.trust_env = False
    s.verify = CA
    return s


def metadata():
    r = http().get(f"{CP}/oauth2/token/.well-known/openid-configuration", timeout=10)
    r.raise_for_status()
    return r.json()


def verify_jwt(token, audience=None, **options):
    """Verifies with PyJWT against the published JWKS, the algorithm chosen by the key."""
    jwks = jwt.PyJWKClient(metadata()["jwks_uri"], cache_keys=False,
                           ssl_context=__import__("ssl").create_default_context(cafile=CA))
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(
        token, key.key, algorithms=[key.algorithm_name], issuer=ISSUER,
        audience=audience, options={"verify_aud": audience is not None, **options},
    )


def session(client_id, secret=None, method="client_secret_basic", **kw):
    s = OAuth2Session(client_id, secret, token_endpoint_auth_method=method, **kw)
    s.trust_env = False
    s.verify = CA
    return s


class _Inputs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.inputs = {}
        self.labels = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            self.inputs[a["name"]] = a.get("value", "")
        if tag == "label" and a.get("for"):
            self.labels.add(a["for"])


def login(authorize_url, username="admin", password=None, decision="allow"):
    """Opens the login page like a browser, submits it; returns the final response."""
    browser = http()
    page = browser.get(authorize_url, allow_redirects=False, timeout=10)
    if page.status_code != 200:
        return page
    form = _Inputs()
    form.feed(page.text)
    assert {"username", "password"} <= form.labels, "fields have labels"
    fields = dict(form.inputs)
    fields.update(username=username, password=password or ADMIN_PASSWORD, decision=decision)
    return browser.post(f"{CP}/oauth2/authorize", data=fields, allow_redirects=False, timeout=10)


def query_of(location):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class Metadata(unittest.TestCase):
    def test_o1_metadata_at_every_location_names_the_issuer(self):
        for path in ("/oauth2/token/.well-known/openid-configuration",
                     "/.well-known/openid-configuration",
                     "/.well-known/oauth-authorization-server",
                     "/.well-known/oauth-authorization-server/oauth2/token"):
            doc = http().get(CP + path, timeout=10).json()
            self.assertEqual(doc["issuer"], ISSUER, path)
            self.assertIn("S256", doc["code_challenge_methods_supported"])
            self.assertNotIn("plain", doc["code_challenge_methods_supported"])
            for name in ("token_endpoint", "jwks_uri", "revocation_endpoint",
                         "introspection_endpoint", "authorization_endpoint", "userinfo_endpoint"):
                self.assertTrue(doc[name].startswith(CP), name)
        # Every advertised URL answers (GET-only ones with 200, POST-only ones not with 404).
        doc = metadata()
        self.assertEqual(http().get(doc["jwks_uri"], timeout=10).status_code, 200)
        for name in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
            self.assertNotEqual(http().post(doc[name], timeout=10).status_code, 404, name)

    def test_o2_jwks_publishes_only_public_signing_keys(self):
        expected = os.environ.get("GANTRY_SIGNING_ALGORITHM")
        keys = http().get(metadata()["jwks_uri"], timeout=10).json()["keys"]
        self.assertGreaterEqual(len(keys), 2, "active and next")
        for key in keys:
            self.assertEqual(key["use"], "sig")
            self.assertIn(key["alg"], ("RS256", "ES256", "EdDSA"))
            self.assertTrue(key["kid"])
            for private in ("d", "p", "q", "dp", "dq", "qi", "k"):
                self.assertNotIn(private, key)
        token = session(CONF_ID, CONF_SECRET).fetch_token(TOKEN, grant_type="client_credentials")
        header = jwt.get_unverified_header(token["access_token"])
        self.assertIn(header["kid"], [k["kid"] for k in keys])
        if expected:
            self.assertEqual(header["alg"], expected)


class ClientCredentials(unittest.TestCase):
    def test_o3_client_secret_basic_and_post(self):
        for method in ("client_secret_basic", "client_secret_post"):
            token = session(CONF_ID, CONF_SECRET, method).fetch_token(
                TOKEN, grant_type="client_credentials")
            self.assertEqual(token["token_type"].lower(), "bearer", method)
            claims = verify_jwt(token["access_token"])
            self.assertEqual(claims["client_id"], CONF_ID)
            self.assertEqual(claims["azp"], CONF_ID)

    def test_o3_wrong_secret_is_invalid_client_with_a_challenge(self):
        r = http().post(TOKEN, data={"grant_type": "client_credentials"},
                        auth=(CONF_ID, "wrong"), timeout=10)
        self.assertEqual(r.status_code, 401)
        self.assertEqual(r.json()["error"], "invalid_client")
        self.assertIn("Basic", r.headers["WWW-Authenticate"])

    def test_o4_token_response_hygiene(self):
        r = http().post(TOKEN, data={"grant_type": "client_credentials"},
                        auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers["Cache-Control"], "no-store")
        self.assertEqual(r.headers["Pragma"], "no-cache")
        body = r.json()
        self.assertEqual(body["token_type"], "Bearer")
        self.assertIsInstance(body["expires_in"], int)
        bad = http().post(TOKEN, data={"grant_type": "made_up"}, auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual(bad.status_code, 400)
        self.assertEqual(bad.json()["error"], "unsupported_grant_type")

    def test_o5_method_content_type_duplicates_and_two_auth_methods(self):
        self.assertEqual(http().get(TOKEN, timeout=10).status_code, 405)
        r = http().post(TOKEN, json={"grant_type": "client_credentials"},
                        auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual((r.status_code, r.json()["error"]), (400, "invalid_request"))
        r = http().post(TOKEN, data="grant_type=client_credentials&grant_type=password",
                        headers=FORM, auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual((r.status_code, r.json()["error"]), (400, "invalid_request"))
        r = http().post(TOKEN, data={"grant_type": "client_credentials", "client_secret": CONF_SECRET},
                        auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual((r.status_code, r.json()["error"]), (400, "invalid_request"))

    def test_o23_no_credentialed_cors_on_the_token_endpoint(self):
        r = http().post(TOKEN, data={"grant_type": "client_credentials"}, auth=(CONF_ID, CONF_SECRET),
                        headers={"Origin": "https://evil.example"}, timeout=10)
        self.assertEqual(r.status_code, 200)
        self.assertNotIn("Access-Control-Allow-Credentials", r.headers)
        self.assertNotEqual(r.headers.get("Access-Control-Allow-Origin"), "*")

    def test_o17_access_token_verifies_with_another_jose_stack(self):
        token = session(CONF_ID, CONF_SECRET).fetch_token(TOKEN, grant_type="client_credentials")
        claims = verify_jwt(token["access_token"])
        for name in ("iss", "exp", "iat", "nbf", "sub", "aud", "jti", "client_id", "scope", "azp"):
            self.assertIn(name, claims)
        self.assertEqual(claims["aud"], CONF_ID)
        self.assertGreater(claims["exp"], time.time())


class AuthorizationCode(unittest.TestCase):
    def authorize(self, client_id=CONF_ID, secret=CONF_SECRET, scope="openid", **params):
        client = session(client_id, secret, redirect_uri=REDIRECT_URI, scope=scope)
        url, state = client.create_authorization_url(f"{CP}/oauth2/authorize", **params)
        return client, url, state

    def test_o6_pkce_s256_succeeds_for_a_public_client(self):
        # oidcc-ensure-request-with-valid-pkce-succeeds
        verifier, _ = pkce_pair()
        client = session(PUBLIC_ID, None, "none", redirect_uri=REDIRECT_URI,
                         scope="openid", code_challenge_method="S256")
        nonce = secrets.token_urlsafe(8)
        url, state = client.create_authorization_url(f"{CP}/oauth2/authorize",
                                                     code_verifier=verifier, nonce=nonce)
        r = login(url)
        self.assertEqual(r.status_code, 302, r.text)
        location = r.headers["Location"]
        self.assertEqual(query_of(location)["state"], state)
        self.assertEqual(query_of(location)["iss"], ISSUER)  # RFC 9207, O13
        token = client.fetch_token(TOKEN, authorization_response=location, code_verifier=verifier)
        self.assertIn("refresh_token", token)
        id_claims = verify_jwt(token["id_token"], audience=PUBLIC_ID)
        self.assertEqual((id_claims["sub"], id_claims["nonce"]), ("admin", nonce))
        info = http().get(metadata()["userinfo_endpoint"],
                          headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10)
        self.assertEqual(info.json()["sub"], "admin")

    def test_o6_wrong_or_malformed_verifier_fails(self):
        verifier, challenge = pkce_pair()
        _, url, _ = self.authorize(code_challenge=challenge, code_challenge_method="S256")
        code = query_of(login(url).headers["Location"])["code"]
        r = http().post(TOKEN, data={"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": REDIRECT_URI, "code_verifier": "x" * 42},
                        auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual((r.status_code, r.json()["error"]), (400, "invalid_request"))
        r = http().post(TOKEN, data={"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": REDIRECT_URI, "code_verifier": pkce_pair()[0]},
                        auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual((r.status_code, r.json()["error"]), (400, "invalid_grant"))

    def test_o6_plain_method_is_refused(self):
        # Explicitly, and implicitly: without a method the challenge would be `plain`.
        for params in ({"code_challenge_method": "plain"}, {}):
            _, url, state = self.authorize(code_challenge="a" * 43, **params)
            r = http().get(url, allow_redirects=False, timeout=10)
            self.assertEqual(r.status_code, 302, params)
            self.assertEqual(query_of(r.headers["Location"])["error"], "invalid_request")
            self.assertEqual(query_of(r.headers["Location"])["state"], state)

    def test_o7_pkce_downgrade_and_public_client_without_pkce(self):
        _, url, _ = self.authorize()
        code = query_of(login(url).headers["Location"])["code"]
        r = http().post(TOKEN, data={"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": REDIRECT_URI, "code_verifier": pkce_pair()[0]},
                        auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual((r.status_code, r.json()["error"]), (400, "invalid_grant"))
        _, url, _ = self.authorize(client_id=PUBLIC_ID, secret=None)
        r = http().get(url, allow_redirects=False, timeout=10)
        self.assertEqual(query_of(r.headers["Location"])["error"], "invalid_request")

    def test_o8_o9_code_reuse_fails_and_revokes_the_first_tokens(self):
        # oidcc-codereuse, oidcc-codereuse-30seconds
        client, url, _ = self.authorize()
        location = login(url).headers["Location"]
        token = client.fetch_token(TOKEN, authorization_response=location)
        code = query_of(location)["code"]
        r = http().post(TOKEN, data={"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": REDIRECT_URI},
                        auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual((r.status_code, r.json()["error"]), (400, "invalid_grant"))
        self.assertEqual(introspect(token["access_token"]), {"active": False})
        self.assertEqual(introspect(token["refresh_token"]), {"active": False})

    def test_o10_code_bound_to_client_and_redirect_uri(self):
        _, url, _ = self.authorize()
        code = query_of(login(url).headers["Location"])["code"]
        r = http().post(TOKEN, data={"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": REDIRECT_URI},
                        auth=(OTHER_ID, OTHER_SECRET), timeout=10)
        self.assertEqual((r.status_code, r.json()["error"]), (400, "invalid_grant"))
        _, url, _ = self.authorize()
        code = query_of(login(url).headers["Location"])["code"]
        r = http().post(TOKEN, data={"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": REDIRECT_URI + "x"},
                        auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual((r.status_code, r.json()["error"]), (400, "invalid_grant"))

    def test_o11_o12_redirect_uri_must_match_exactly_and_errors_never_redirect_elsewhere(self):
        # oidcc-ensure-registered-redirect-uri
        split = urllib.parse.urlsplit(REDIRECT_URI)
        variants = [REDIRECT_URI + "/../x", REDIRECT_URI + "?x=1", REDIRECT_URI + "#f",
                    REDIRECT_URI.replace(split.hostname, split.hostname.upper()),
                    REDIRECT_URI + "2", REDIRECT_URI.replace(split.hostname, split.hostname + ".evil"),
                    REDIRECT_URI.replace("https://", "http://")]
        for uri in variants:
            r = http().get(f"{CP}/oauth2/authorize", params={
                "response_type": "code", "client_id": CONF_ID, "redirect_uri": uri},
                allow_redirects=False, timeout=10)
            self.assertEqual(r.status_code, 400, uri)
            self.assertNotIn("Location", r.headers, uri)
        r = http().get(f"{CP}/oauth2/authorize", params={
            "response_type": "code", "client_id": "no-such-client", "redirect_uri": REDIRECT_URI},
            allow_redirects=False, timeout=10)
        self.assertEqual(r.status_code, 400)
        self.assertNotIn("Location", r.headers)

    def test_o14_implicit_is_not_supported(self):
        r = http().get(f"{CP}/oauth2/authorize", params={
            "response_type": "token", "client_id": CONF_ID, "redirect_uri": REDIRECT_URI,
            "state": "s"}, allow_redirects=False, timeout=10)
        self.assertEqual(query_of(r.headers["Location"])["error"], "unsupported_response_type")

    def test_denied_consent_returns_access_denied(self):
        _, url, state = self.authorize()
        r = login(url, decision="deny")
        self.assertEqual(query_of(r.headers["Location"])["error"], "access_denied")
        self.assertEqual(query_of(r.headers["Location"])["state"], state)


def introspect(token, auth=("admin", ADMIN_PASSWORD)):
    r = http().post(f"{CP}/oauth2/introspect", data={"token": token}, auth=auth, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


class RefreshAndRevocation(unittest.TestCase):
    def password_token(self, scope="apim:api_view openid"):
        return session(CONF_ID, CONF_SECRET, scope=scope).fetch_token(
            TOKEN, username="admin", password=ADMIN_PASSWORD)

    def test_password_grant_limits_scopes_to_the_users_roles(self):
        token = self.password_token("apim:api_view apim:admin not:a_scope")
        self.assertEqual(set(token["scope"].split()), {"apim:api_view", "apim:admin"})
        self.assertEqual(verify_jwt(token["access_token"])["aut"], "APPLICATION_USER")

    def test_o15_refresh_rotates_and_reuse_revokes_the_family(self):
        # oidcc-refresh-token
        token = self.password_token()
        client = session(CONF_ID, CONF_SECRET)
        second = client.refresh_token(TOKEN, refresh_token=token["refresh_token"])
        self.assertNotEqual(second["refresh_token"], token["refresh_token"])
        r = http().post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"],
                                     "scope": "apim:api_create"}, auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual((r.status_code, r.json()["error"]), (400, "invalid_scope"))
        r = http().post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
                        auth=(OTHER_ID, OTHER_SECRET), timeout=10)
        self.assertEqual((r.status_code, r.json()["error"]), (400, "invalid_grant"))
        r = http().post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
                        auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual((r.status_code, r.json()["error"]), (400, "invalid_grant"))
        self.assertEqual(introspect(second["refresh_token"]), {"active": False})
        self.assertEqual(introspect(second["access_token"]), {"active": False})

    def test_o18_revocation(self):
        token = self.password_token()
        revoke = f"{CP}/oauth2/revoke"
        r = http().post(revoke, data={"token": token["access_token"]}, timeout=10)
        self.assertEqual(r.status_code, 401)
        # Another client's token: 200, and nothing happens.
        r = http().post(revoke, data={"token": token["access_token"]}, auth=(OTHER_ID, OTHER_SECRET), timeout=10)
        self.assertEqual(r.status_code, 200)
        self.assertTrue(introspect(token["access_token"])["active"])
        for hint in ("refresh_token", "access_token"):  # a wrong hint still works
            r = http().post(revoke, data={"token": token["access_token"], "token_type_hint": hint},
                            auth=(CONF_ID, CONF_SECRET), timeout=10)
            self.assertEqual(r.status_code, 200)
        self.assertEqual(introspect(token["access_token"]), {"active": False})
        r = http().post(revoke, data={"token": token["refresh_token"]}, auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual(r.status_code, 200)
        r = http().post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
                        auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual(r.json()["error"], "invalid_grant")
        r = http().post(revoke, data={"token": "unknown"}, auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual(r.status_code, 200)

    def test_o19_introspection(self):
        token = self.password_token()
        info = introspect(token["access_token"])
        self.assertTrue(info["active"])
        self.assertEqual(info["client_id"], CONF_ID)
        self.assertEqual(info["username"], "admin")
        self.assertIn("apim:api_view", info["scope"].split())
        # A client sees its own tokens, not others'.
        self.assertTrue(introspect(token["access_token"], auth=(CONF_ID, CONF_SECRET))["active"])
        self.assertEqual(introspect(token["access_token"], auth=(OTHER_ID, OTHER_SECRET)), {"active": False})
        for garbage in ("garbage", "a.b.c", token["access_token"][:-4] + "AAAA"):
            self.assertEqual(introspect(garbage), {"active": False})
        r = http().post(f"{CP}/oauth2/introspect", data={"token": token["access_token"]}, timeout=10)
        self.assertEqual(r.status_code, 401)


class ZAbuse(unittest.TestCase):
    """Runs last: it exhausts a client id's failure budget."""

    def test_o22_failed_authentication_is_rate_limited(self):
        ghost = "ghost-" + secrets.token_hex(4)
        codes = [http().post(TOKEN, data={"grant_type": "client_credentials"},
                             auth=(ghost, "x"), timeout=10).status_code for _ in range(11)]
        self.assertEqual(codes[:10], [401] * 10)
        self.assertEqual(codes[10], 429)
        r = http().post(TOKEN, data={"grant_type": "client_credentials"}, auth=(ghost, "x"), timeout=10)
        self.assertGreaterEqual(int(r.headers["Retry-After"]), 1)
        self.assertEqual(r.json()["error"], "slow_down")
        # A valid client is unaffected.
        ok = http().post(TOKEN, data={"grant_type": "client_credentials"}, auth=(CONF_ID, CONF_SECRET), timeout=10)
        self.assertEqual(ok.status_code, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
