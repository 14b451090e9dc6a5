#!/usr/bin/env python3
"""Verifies one of the mock's access tokens as an independent reader would: PyJWT, the keys
from the tenant's JWKS over HTTPS.

Usage: verify_token.py JWKS_URL TOKEN AUDIENCE ISSUER

Reads the JWKS at JWKS_URL (trusting the CA file named by SSL_CERT_FILE), takes the key whose
`kid` the token's header names, and checks the RS256 signature, `aud` and `iss` with
jwt.decode. The token's times are the service's (often a virtual clock), so `exp`, `nbf` and
`iat` are left to the caller, which compares them literally. Prints one JSON document:
{"header", "claims", "kids", "kid_is_x5c_thumbprint", "uuid5_of_appid"} when the token verifies,
{"refused": ExceptionName, "message"} when PyJWT refuses it. Any other error ends the script
with exit status 1 and a one-line reason on stderr.
"""

import base64
import hashlib
import json
import sys
import urllib.request
import uuid

# The namespace of the apps' object ids (`oid`): uuid5(NAMESPACE, appid).
APP_OBJECT_ID_NAMESPACE = uuid.UUID("6d0c5d3e-27a4-4a47-9d3e-1f2a0b6c9e11")


def b64url_sha1(der):
    return base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()


def main(argv):
    import jwt

    if len(argv) != 5:
        raise SystemExit("usage: verify_token.py JWKS_URL TOKEN AUDIENCE ISSUER")
    jwks_url, token, audience, issuer = argv[1:]
    with urllib.request.urlopen(jwks_url, timeout=20) as response:
        jwks = json.load(response)
    keys = jwt.PyJWKSet.from_dict(jwks)
    header = jwt.get_unverified_header(token)
    out = {
        "kids": [k["kid"] for k in jwks["keys"]],
        "kid_is_x5c_thumbprint": all(
            k["kid"] == k["x5t"] == b64url_sha1(base64.b64decode(k["x5c"][0]))
            for k in jwks["keys"]
        ),
    }
    try:
        key = keys[header["kid"]]
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=audience,
            issuer=issuer,
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except (jwt.PyJWTError, KeyError) as e:
        out.update({"refused": type(e).__name__, "message": str(e)})
    else:
        out.update(
            {
                "header": header,
                "claims": claims,
                "uuid5_of_appid": str(uuid.uuid5(APP_OBJECT_ID_NAMESPACE, claims["appid"])),
            }
        )
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except SystemExit:
        raise
    except Exception as e:  # Network, TLS, JSON: one line for the test's message.
        print(f"verify_token.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
