#!/usr/bin/env python3
"""Reads the mock's certificate connectors through Microsoft's Graph SDK for Python.

Usage: read_connectors.py BASE_URL TENANT_ID CLIENT_ID CLIENT_SECRET

BASE_URL is the Graph base of the mock, e.g. http://127.0.0.1:8080/beta. The script takes a
token from the mock's token endpoint ({root}/{tenantId}/oauth2/v2.0/token, client credentials),
builds a msgraph-beta-sdk GraphServiceClient on BASE_URL, and reads
deviceManagement/ndesConnectors and deviceManagement/certificateConnectorDetails: the whole
list, every item again by id, and the ndesConnectors list once more a page of one at a time
($top=1, $count=true, following @odata.nextLink). It prints one JSON document of every field
as the SDK's generated models read it: enums as their value, datetimes in ISO 8601, fields the
model does not know under "additional_data". A field whose JSON name or enum value the SDK does
not recognise reads as null (or lands in additional_data) - which is what the test checks.

Any error ends the script with exit status 1 and a one-line reason on stderr.
"""

import asyncio
import dataclasses
import datetime
import enum
import importlib.metadata
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

SDK_PACKAGES = (
    "msgraph-beta-sdk",
    "msgraph-core",
    "microsoft-kiota-abstractions",
    "microsoft-kiota-http",
    "microsoft-kiota-serialization-json",
)
# One timeout for every HTTP call, token and Graph alike (seconds).
TIMEOUT = 20


class Failure(Exception):
    """An error with a message meant for the person running the script."""


def fetch_token(base_url, tenant_id, client_id, client_secret):
    """POST the client-credentials grant to the mock's token endpoint; returns the access token."""
    parts = urllib.parse.urlsplit(base_url)
    token_url = urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, f"/{urllib.parse.quote(tenant_id)}/oauth2/v2.0/token", "", "")
    )
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": "https://graph.microsoft.com/.default",
        }
    ).encode()
    request = urllib.request.Request(token_url, data=form, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            body = json.load(response)
    except urllib.error.HTTPError as e:
        raise Failure(f"the token endpoint {token_url} answered {e.code}: {e.read()[:500]!r}") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise Failure(f"the token endpoint {token_url} could not be read: {e}") from e
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise Failure(f"the token endpoint {token_url} answered no access_token: {body!r}")
    return token


def graph_client(base_url, token):
    """A GraphServiceClient on base_url that sends `Authorization: Bearer token`."""
    from kiota_abstractions.authentication import AuthenticationProvider
    from msgraph_beta import GraphRequestAdapter, GraphServiceClient

    class StaticBearer(AuthenticationProvider):
        # The SDK's default provider asks an azure-identity credential, i.e. Entra ID, for the
        # token; this one sends the mock's token as it is, whatever the host or scheme.
        async def authenticate_request(self, request, additional_authentication_context=None):
            request.headers.try_add("Authorization", f"Bearer {token}")

    adapter = GraphRequestAdapter(StaticBearer())
    adapter.base_url = base_url
    return GraphServiceClient(request_adapter=adapter)


def plain(value):
    """A JSON-ready copy of what a model read."""
    if isinstance(value, enum.Enum):  # before str: the SDK's enums are str enums
        return value.value
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return model(value)
    return repr(value)


def model(item):
    """Every field of a generated model (its dataclass fields, less the backing store)."""
    return {
        f.name: plain(getattr(item, f.name))
        for f in dataclasses.fields(item)
        if f.name != "backing_store"
    }


def page_fields(page):
    return {
        "odata_count": page.odata_count,
        "odata_next_link": page.odata_next_link,
        "additional_data": plain(page.additional_data),
    }


async def read(base_url, token):
    from msgraph_beta.generated.device_management.ndes_connectors.ndes_connectors_request_builder import (
        NdesConnectorsRequestBuilder,
    )
    from kiota_abstractions.base_request_configuration import RequestConfiguration

    client = graph_client(base_url, token)
    management = client.device_management
    out = {"sdk": {name: importlib.metadata.version(name) for name in SDK_PACKAGES}}

    ndes = await management.ndes_connectors.get()
    if ndes is None or ndes.value is None:
        raise Failure("GET deviceManagement/ndesConnectors gave no collection")
    out["ndesConnectors"] = {"page": page_fields(ndes), "value": [model(c) for c in ndes.value]}
    out["ndesConnectorById"] = {}
    for connector in ndes.value:
        one = await management.ndes_connectors.by_ndes_connector_id(connector.id).get()
        out["ndesConnectorById"][connector.id] = model(one)

    details = await management.certificate_connector_details.get()
    if details is None or details.value is None:
        raise Failure("GET deviceManagement/certificateConnectorDetails gave no collection")
    out["certificateConnectorDetails"] = {
        "page": page_fields(details),
        "value": [model(c) for c in details.value],
    }
    out["certificateConnectorDetailsById"] = {}
    for connector in details.value:
        one = await management.certificate_connector_details.by_certificate_connector_details_id(
            connector.id
        ).get()
        out["certificateConnectorDetailsById"][connector.id] = model(one)

    # Page by page: $top=1&$count=true, then each absolute @odata.nextLink as given.
    query = NdesConnectorsRequestBuilder.NdesConnectorsRequestBuilderGetQueryParameters(top=1, count=True)
    page = await management.ndes_connectors.get(RequestConfiguration(query_parameters=query))
    pages = []
    while page is not None:
        pages.append({**page_fields(page), "ids": [c.id for c in page.value or []]})
        if not page.odata_next_link or len(pages) > 10:
            break
        page = await management.ndes_connectors.with_url(page.odata_next_link).get()
    out["ndesConnectorPages"] = pages
    return out


def main(argv):
    if len(argv) != 5:
        raise Failure("usage: read_connectors.py BASE_URL TENANT_ID CLIENT_ID CLIENT_SECRET")
    base_url, tenant_id, client_id, client_secret = argv[1:]
    base_url = base_url.rstrip("/")
    token = fetch_token(base_url, tenant_id, client_id, client_secret)
    try:
        out = asyncio.run(asyncio.wait_for(read(base_url, token), timeout=3 * TIMEOUT))
    except Failure:
        raise
    except ImportError as e:
        raise Failure(f"the Graph SDK is not installed (pip install -r requirements.txt): {e}") from e
    except Exception as e:  # The SDK's APIError, httpx errors, timeouts: all end the script.
        status = getattr(e, "response_status_code", None)
        detail = f" (HTTP {status})" if status else ""
        raise Failure(f"reading the connectors through the Graph SDK failed{detail}: {type(e).__name__}: {e}") from e
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except Failure as e:
        print(f"read_connectors.py: {e}", file=sys.stderr)
        sys.exit(1)
