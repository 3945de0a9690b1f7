"""JupiterOne client (requests): sync jobs (the persister API) and GraphQL.

See shared/reference/jupiterone.md. Every request carries `Authorization: Bearer` and
`JupiterOne-Account`; 5xx, 408 and connection errors are retried with capped backoff; 429
waits `RateLimit-Reset`; GraphQL errors (HTTP 200 with `errors`) raise with their message.

Rate limits (docs/jupiterone-rate-limits.md): every GraphQL request first takes its tokens
from the account's budget (one per top-level query or mutation field: an aliased request
of N mutations takes N), a J1QL query also one from the J1QL budget, so pdgraph waits
before JupiterOne would answer 429. The budgets are shared through Redis by every process
(`JupiterOneBudgets.shared`); `RateLimit-Remaining` lower than the budget expects (another
consumer of the account) takes the difference from it until `RateLimit-Reset`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import requests

from common.clients.http import INTERACTIVE_RETRY, RetryingClient, RetryPolicy, json_body
from common.clients.jupiterone.budget import Charge, ChargedBudget, first_number, graphql_charge
from common.clients.jupiterone.budget import JupiterOneBudgets as JupiterOneBudgets
from common.clients.jupiterone.budget import JupiterOneLimits as JupiterOneLimits
from common.clients.ratelimit import TokenBudget

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 5_000_000  # per upload request (JupiterOne answers 413 above it)
TERMINAL_OK = "FINISHED"
JOB_FAILED = frozenset({"ABORTED", "ERROR_BAD_DATA", "ERROR", "FAILED", "CANCELLED"})

JsonObject = dict[str, Any]
# JupiterOne's rate-limit headers (docs.jupiterone.io/api/rate-limiting), as spelled there.
RATE_LIMIT_HEADERS = (
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Requested",
)
RequestHook = Callable[[str, str, int], None]  # (api "persister"|"graphql", op, status)


class JupiterOneError(Exception):
    """A JupiterOne request failed for good.

    `status` (the HTTP status, None when there was no answer) and `code` (JupiterOne's
    error code, e.g. NOT_FOUND) let callers decide without parsing the message.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class JupiterOneAuthError(JupiterOneError):
    """401/403: the key or account id is wrong; retrying cannot help."""


class PayloadTooLarge(JupiterOneError):
    """413: the request body is over JupiterOne's limit."""


class GraphQLError(JupiterOneError):
    """HTTP 200 with `errors`: the query or a mutation was refused."""


def _error_detail(response: requests.Response) -> tuple[str, str | None]:
    """The error's message (with its code in front, as JupiterOne shows it) and its code."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or "", None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error["code"]) if error.get("code") else None
        message = str(error.get("message") or "")
        return (f"{code}: {message}" if code else message), code
    if isinstance(body, dict) and body.get("errors"):
        return "; ".join(str(e.get("message", e)) for e in body["errors"]), None
    return response.reason or "", None


class JupiterOneClient(RetryingClient):
    service = "jupiterone"
    error = JupiterOneError
    unreachable_hint = " (check JUPITERONE_API_URL / JUPITERONE_GRAPHQL_URL)"

    def __init__(
        self,
        account_id: str,
        api_key: str,
        api_url: str = "https://api.us.jupiterone.io",
        graphql_url: str = "https://graphql.us.jupiterone.io",
        *,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (5.0, 60.0),
        sleep: Callable[[float], None] = time.sleep,
        on_request: RequestHook | None = None,
        budget: TokenBudget | None = None,
        budgets: JupiterOneBudgets | None = None,
    ) -> None:
        # `budgets` (JupiterOneBudgets.shared in every process), else `budget` for
        # everything, else this process's own budgets at the documented limits.
        if budgets is None:
            budgets = (
                JupiterOneBudgets.single(budget) if budget else JupiterOneBudgets.local(sleep=sleep)
            )
        self.budgets = budgets
        self._charge = Charge()
        super().__init__(
            budget=ChargedBudget(budgets, self._charge),
            retry=retry,
            timeout=timeout,
            sleep=sleep,
        )
        self.account_id = account_id
        self._api_key = api_key
        self.api_url = api_url.rstrip("/")
        self.graphql_url = graphql_url
        self.on_request = on_request
        # The RateLimit-* headers of the last response that carried any (429s included).
        self.rate_limit_headers: dict[str, str] = {}

    def __repr__(self) -> str:  # never show the key
        return f"JupiterOneClient({self.api_url!r}, account={self.account_id!r})"

    def impatient(self) -> JupiterOneClient:
        """The same account with one retry and short timeouts: for checks people wait on."""
        return JupiterOneClient(
            self.account_id,
            self._api_key,
            self.api_url,
            self.graphql_url,
            retry=INTERACTIVE_RETRY,
            timeout=(3.0, 10.0),
            sleep=self._sleep,
            on_request=self.on_request,
            budgets=self.budgets,
        )

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._api_key}",
            "JupiterOne-Account": self.account_id,
            "Content-Type": "application/json",
        }

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = super()._session()
            session.hooks["response"].append(self._note_rate_limit)
        return session

    def _note_rate_limit(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Keep the RateLimit-* headers; a GraphQL answer's adjust the shared budget."""
        seen = {h: response.headers[h] for h in RATE_LIMIT_HEADERS if h in response.headers}
        if not seen:
            return
        self.rate_limit_headers = seen
        remaining = first_number(seen.get("RateLimit-Remaining"))
        reset = first_number(seen.get("RateLimit-Reset"))
        graphql = self._charge.api == "graphql" and self.budgets.observes
        if response.status_code < 400 and graphql and remaining is not None:
            self.budgets.graphql.observe(int(remaining), reset or 0.0)

    def answered(self, label: str, status: int) -> None:
        if self.on_request is not None:
            api = "graphql" if label.startswith("JupiterOne graphql") else "persister"
            self.on_request(api, label, status)

    # -- one request ------------------------------------------------------------------

    def request(self, method: str, url: str, body: bytes | None, op: str) -> JsonObject:
        """One call with retries; `op` names it in errors and for the request hook."""
        api = "graphql" if url == self.graphql_url else "persister"
        label = f"JupiterOne {api} {op}"
        self._charge.api = api
        self._charge.tokens, self._charge.j1ql = (
            graphql_charge(body) if api == "graphql" else (1, 0)
        )
        response = self.send(method, url, label, data=body)
        status = response.status_code
        if status < 400:
            decoded: JsonObject = json_body(
                response, label, JupiterOneError, " (is the URL a JupiterOne API?)"
            )
            return decoded
        message, code = _error_detail(response)
        if status in (401, 403):
            raise JupiterOneAuthError(
                f"JupiterOne rejected the credentials on {op} ({status} {message}): check "
                "JUPITERONE_API_KEY and JUPITERONE_ACCOUNT_ID",
                status=status,
                code=code,
            )
        if status == 413:
            raise PayloadTooLarge(f"{label}: 413 request body too large", status=status, code=code)
        raise JupiterOneError(f"{label}: HTTP {status} {message}", status=status, code=code)

    def persister(self, method: str, path: str, body: Any, op: str) -> JsonObject:
        data = None if body is None else _dumps(body)
        return self.request(method, f"{self.api_url}/persister/synchronization{path}", data, op)

    # -- sync jobs --------------------------------------------------------------------

    def start_job(self, scope: str, mode: str) -> str:
        body = {"source": "api", "syncMode": mode, "scope": scope}
        job = self.persister("POST", "/jobs", body, "start sync job")["job"]
        return str(job["id"])

    def upload(self, job_id: str, kind: str, objects: Iterable[JsonObject]) -> int:
        """Upload `objects` ("entities" or "relationships") in bodies under the size limit.

        Each object is encoded once; batches are cut by encoded size; a 413 anyway (a
        smaller server limit) halves the batch and retries. Returns the uploads made.
        """
        uploads = 0
        pending = list(_batches(objects, kind, MAX_BODY_BYTES))
        while pending:
            batch = pending.pop(0)
            try:
                self.request(
                    "POST",
                    f"{self.api_url}/persister/synchronization/jobs/{job_id}/{kind}",
                    _body(kind, batch),
                    f"upload {kind}",
                )
                uploads += 1
            except PayloadTooLarge:
                if len(batch) == 1:
                    key = json.loads(batch[0]).get("_key")
                    raise JupiterOneError(
                        f"JupiterOne upload: one {kind[:-1]} ({key}) is larger than the "
                        "request limit"
                    ) from None
                half = len(batch) // 2
                pending[:0] = [batch[:half], batch[half:]]
        return uploads

    def finalize(self, job_id: str) -> str:
        job = self.persister("POST", f"/jobs/{job_id}/finalize", {}, "finalize sync job")
        return str((job.get("job") or {}).get("status", ""))

    def job_status(self, job_id: str) -> JsonObject:
        job: JsonObject = self.persister("GET", f"/jobs/{job_id}", None, "poll sync job")["job"]
        return job

    def wait_for_job(self, job_id: str, timeout: float = 1800.0) -> JsonObject:
        """Poll until FINISHED; raise on a failed job or when `timeout` passes."""
        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            job = self.job_status(job_id)
            status = job.get("status")
            if status == TERMINAL_OK:
                return job
            if status in JOB_FAILED:
                raise JupiterOneError(f"JupiterOne sync job {job_id} ended {status}")
            if time.monotonic() > deadline:
                raise JupiterOneError(f"JupiterOne sync job {job_id} still {status} after wait")
            self._sleep(delay)
            delay = min(delay * 2, 5.0)

    def abort(self, job_id: str, reason: str) -> None:
        self.persister("POST", f"/jobs/{job_id}/abort", {"reason": reason[:500]}, "abort job")

    # -- GraphQL ------------------------------------------------------------------------

    def graphql(self, query: str, variables: Mapping[str, Any], op: str) -> JsonObject:
        body = _dumps({"query": query, "variables": dict(variables)})
        answer = self.request("POST", self.graphql_url, body, op)
        if answer.get("errors"):
            messages = "; ".join(str(e.get("message", e)) for e in answer["errors"])
            raise GraphQLError(f"JupiterOne {op}: {messages}")
        data: JsonObject = answer.get("data") or {}
        return data

    def query(self, j1ql: str) -> list[JsonObject]:
        """Every row of a J1QL query (following cursors)."""
        rows: list[JsonObject] = []
        cursor: str | None = None
        while True:
            data = self.graphql(QUERY_V1, {"query": j1ql, "cursor": cursor}, "queryV1")
            result = data.get("queryV1") or {}
            page = result.get("data") or []
            rows.extend(page if isinstance(page, list) else [])
            cursor = result.get("cursor")
            if not cursor:
                return rows


QUERY_V1 = """query J1QL($query: String!, $cursor: String) {
  queryV1(query: $query, cursor: $cursor) { type data cursor }
}"""


def _dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _body(kind: str, encoded: Sequence[bytes]) -> bytes:
    return b'{"' + kind.encode() + b'":[' + b",".join(encoded) + b"]}"


def _batches(objects: Iterable[JsonObject], kind: str, limit: int) -> Iterator[list[bytes]]:
    """The objects, encoded, in lists whose `{"<kind>": [...]}` body stays under `limit`."""
    envelope = len(_body(kind, []))
    batch: list[bytes] = []
    size = envelope
    for obj in objects:
        encoded = _dumps(obj)
        if batch and size + len(encoded) + 1 > limit:  # + the comma
            yield batch
            batch, size = [], envelope
        batch.append(encoded)
        size += len(encoded) + 1
    if batch:
        yield batch


def j1ql_string(value: str) -> str:
    """A J1QL single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
