"""`pdgraph check` for JupiterOne: which of key, account id, GraphQL URL or API URL is wrong.

Decided by the errors' HTTP status and JupiterOne error code, never by their wording.
"""

from __future__ import annotations

from common.clients.jupiterone import (
    JupiterOneAuthError,
    JupiterOneClient,
    JupiterOneError,
    j1ql_string,
)
from common.sinks.base import SinkError

PROBE_JOB_ID = "pdgraph-check"  # no such job: JupiterOne's sync-job API answers NOT_FOUND


def check_credentials(client: JupiterOneClient, scope: str) -> None:
    """One J1QL query (key, account, GraphQL URL) and one job read (sync-job URL).

    Raises SinkError naming the setting to fix.
    """
    client = client.impatient()
    try:
        client.query(f"FIND * WITH _scope = {j1ql_string(scope)} LIMIT 1")
    except JupiterOneAuthError as exc:
        raise SinkError(_auth_reason(exc, client.account_id)) from None
    except JupiterOneError as exc:
        raise SinkError(
            f"JUPITERONE_GRAPHQL_URL {client.graphql_url}: not a working JupiterOne "
            f"GraphQL endpoint ({exc})"
        ) from None
    try:
        client.job_status(PROBE_JOB_ID)
    except JupiterOneAuthError as exc:
        raise SinkError(_auth_reason(exc, client.account_id)) from None
    except JupiterOneError as exc:
        if exc.code != "NOT_FOUND":  # the answer JupiterOne gives for an unknown job
            raise SinkError(
                f"JUPITERONE_API_URL {client.api_url}: the sync-job API does not answer "
                f"as JupiterOne does ({exc})"
            ) from None


def _auth_reason(exc: JupiterOneAuthError, account_id: str) -> str:
    # 403: the key is valid but not for this account; 401: the key itself is refused.
    if exc.status == 403:
        return (
            f"JUPITERONE_API_KEY is not valid for JUPITERONE_ACCOUNT_ID {account_id!r} "
            "(403): check the account id"
        )
    return "JUPITERONE_API_KEY was rejected (401): check the key (or that it is not expired)"
