"""Gives a fresh intune-mock service data for schemathesis to reach: a tenant with two connectors
(one for the runs, one to uninstall), a PFX-import key, queued jobs (one enqueued by profile, for
its device key), a SCEP challenge and a Graph token. Prints the credentials as shell assignments
for .ci/schemathesis to `eval`.

Usage: python prepare.py BASE_URL OPERATOR_TOKEN
"""

import shlex
import sys

import requests

VERSION = "6.2406.0.1001"


def call(method, url, token=None, expect=(200,), **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.request(method, url, headers=headers, timeout=30, **kwargs)
    if response.status_code not in expect:
        sys.exit(f"{method} {url} answered {response.status_code}: {response.text}")
    return response.json() if response.content else None


def main():
    base, operator = sys.argv[1], sys.argv[2]
    tenant = call(
        "POST",
        f"{base}/admin/tenants",
        operator,
        expect=(201,),
        json={"displayName": "Schemathesis Tenant", "rolloutDelayDays": 0},
    )
    tid = tenant["id"]
    call(
        "PUT",
        f"{base}/admin/tenants/{tid}/import-key",
        operator,
        json={"thumbprint": "00112233445566778899aabbccddeeff00112233"},
    )
    credentials = []
    for machine in ("FUZZ-SRV-01", "FUZZ-SRV-02"):
        registered = call(
            "POST",
            f"{base}/connector/v1/register",
            tenant["enrollmentSecret"],
            expect=(201,),
            json={
                "machineName": machine,
                "displayName": f"{machine} connector",
                "features": ["pkcs", "pkcs_import", "scep", "revocation"],
                "version": VERSION,
                "importKeyThumbprint": "00112233445566778899aabbccddeeff00112233",
            },
        )
        credentials.append(registered)
    connector = credentials[0]
    call(
        "POST",
        f"{base}/connector/v1/checkin",
        connector["credential"],
        json={"version": VERSION},
    )
    jobs = call(
        "POST",
        f"{base}/admin/tenants/{tid}/jobs",
        operator,
        expect=(201,),
        json={
            "jobs": [
                {
                    "kind": "revoke",
                    "payload": {
                        "serialNumber": "0a1b2c",
                        "issuerName": "CN=Fuzz CA",
                        "certificationAuthority": "ca.fuzz.example\\Fuzz CA",
                    },
                },
                {
                    "kind": "revoke",
                    "payload": {
                        "serialNumber": "0a1b2d",
                        "issuerName": "CN=Fuzz CA",
                        "certificationAuthority": "ca.fuzz.example\\Fuzz CA",
                    },
                },
            ]
        },
    )
    # Enqueued by profile: the service made its device key, which getJobDeviceKey answers.
    by_profile = call(
        "POST",
        f"{base}/admin/tenants/{tid}/jobs",
        operator,
        expect=(201,),
        json={"kind": "pkcs_create", "profile": "default", "count": 1},
    )
    challenge = call(
        "POST",
        f"{base}/admin/tenants/{tid}/scep/challenges",
        operator,
        expect=(201,),
        json={"deviceId": "fuzz-device-01", "subject": "CN=fuzz-device-01", "keySize": 2048},
    )
    token = call(
        "POST",
        f"{base}/{tid}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": tenant["clientId"],
            "client_secret": tenant["clientSecret"],
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    values = {
        "tenant_id": tid,
        "client_id": tenant["clientId"],
        "client_secret": tenant["clientSecret"],
        "enrollment_secret": tenant["enrollmentSecret"],
        "connector_id": connector["connectorId"],
        "job_id": jobs["value"][0]["id"],
        "profile_job_id": by_profile["value"][0]["id"],
        "challenge_id": challenge["id"],
        "connector_credential": connector["credential"],
        "spare_connector_credential": credentials[1]["credential"],
        "graph_token": token["access_token"],
    }
    for name, value in values.items():
        print(f"{name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
