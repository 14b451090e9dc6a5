#!/usr/bin/env python3
"""Reads the mock's certificate connectors through Microsoft's Graph SDK for Python.

Usage: read_connectors.py AUTHORITY BASE_URL TENANT_ID CLIENT_ID CLIENT_SECRET

AUTHORITY is the mock's HTTPS origin (e.g. https://127.0.0.1:8443), BASE_URL its Graph base
(e.g. https://127.0.0.1:8443/beta). With SSL_CERT_FILE and REQUESTS_CA_BUNDLE naming the mock's
CA file, the script builds the SDK's default authentication exactly as user code does
(azure-identity's ClientSecretCredential handed to GraphServiceClient with the Graph scope), with
only the authority, instance discovery and the base URL changed, and reads
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

SDK_PACKAGES = (
    "msgraph-beta-sdk",
    "msgraph-core",
    "microsoft-kiota-abstractions",
    "microsoft-kiota-http",
    "microsoft-kiota-serialization-json",
)
# The timeout of the Graph calls, in seconds (three of them for the whole read).
TIMEOUT = 20


class Failure(Exception):
    """An error with a message meant for the person running the script."""


def graph_client(authority, base_url, tenant_id, client_id, client_secret):
    """The Graph SDK's default path, as a user's own code builds it: an azure-identity
    ClientSecretCredential handed to GraphServiceClient with the Graph scope. Only three things
    differ from code that talks to Microsoft: the authority (the mock's HTTPS origin; MSAL asks
    its /{tenant}/v2.0/.well-known/openid-configuration, then its token endpoint), instance
    discovery switched off (it would ask login.microsoftonline.com whether the mock's host is an
    authority), and the Graph base URL. The CA file is trusted through SSL_CERT_FILE (httpx, the
    Graph calls) and REQUESTS_CA_BUNDLE (requests, MSAL's calls), set by the caller."""
    from azure.identity import ClientSecretCredential
    from msgraph_beta import GraphServiceClient

    credential = ClientSecretCredential(
        tenant_id,
        client_id,
        client_secret,
        authority=authority,
        disable_instance_discovery=True,
    )
    client = GraphServiceClient(credential, ["https://graph.microsoft.com/.default"])
    client.request_adapter.base_url = base_url
    return client


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


async def read(client):
    from msgraph_beta.generated.device_management.ndes_connectors.ndes_connectors_request_builder import (
        NdesConnectorsRequestBuilder,
    )
    from kiota_abstractions.base_request_configuration import RequestConfiguration

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
    if len(argv) != 6:
        raise Failure(
            "usage: read_connectors.py AUTHORITY BASE_URL TENANT_ID CLIENT_ID CLIENT_SECRET"
        )
    authority, base_url, tenant_id, client_id, client_secret = argv[1:]
    base_url = base_url.rstrip("/")
    try:
        client = graph_client(authority, base_url, tenant_id, client_id, client_secret)
        out = asyncio.run(asyncio.wait_for(read(client), timeout=3 * TIMEOUT))
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
