"""Graph sinks: where the graph is written. The worker never knows which one it has."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

import redis

from common.config import ConfigError, Settings
from common.graph import ChangeSet, Entity, Graph, GraphIndex, Relationship


class SinkError(Exception):
    """The sink could not be read or written."""


class GraphSink(ABC):
    """Upsert/delete entities and relationships, replace the whole graph, read it back."""

    @abstractmethod
    def upsert_entities(self, entities: Iterable[Entity]) -> None: ...

    @abstractmethod
    def delete_entities(self, keys: Iterable[str]) -> None: ...

    @abstractmethod
    def upsert_relationships(self, relationships: Iterable[Relationship]) -> None: ...

    @abstractmethod
    def delete_relationships(self, keys: Iterable[str]) -> None: ...

    @abstractmethod
    def replace_all(self, graph: Graph) -> None:
        """Make `graph` the complete content of the sink, atomically."""

    @abstractmethod
    def read_graph(self) -> Graph:
        """The sink's current graph (for export and diffing)."""

    def index(self) -> GraphIndex:
        """`_key` → fingerprint of what the sink holds (what a diff needs)."""
        return self.read_graph().index()

    def index_around(self, entity_key: str) -> GraphIndex:
        """The entity (if held) and every relationship from or to it: one object's diff base."""
        graph = self.read_graph()
        return Graph.of(
            [e for key, e in graph.entities.items() if key == entity_key],
            [r for r in graph.relationships.values() if entity_key in (r.from_key, r.to_key)],
        ).index()

    def existing(self, entity_keys: Iterable[str]) -> set[str]:
        """Which of these entities the sink holds (edges may only point at those)."""
        held = self.index().entities
        return {key for key in entity_keys if key in held}

    def apply(self, changes: ChangeSet) -> None:
        """Write a change set; an empty one writes nothing."""
        if changes.delete_relationships:
            self.delete_relationships(changes.delete_relationships)
        if changes.delete_entities:
            self.delete_entities(changes.delete_entities)
        if changes.create_entities or changes.update_entities:
            self.upsert_entities([*changes.create_entities, *changes.update_entities])
        if changes.create_relationships or changes.update_relationships:
            self.upsert_relationships(
                [*changes.create_relationships, *changes.update_relationships]
            )

    def counts_by_type(self) -> dict[str, int]:
        """How many entities and relationships of each `_type` the sink holds."""
        return self.read_graph().counts_by_type()

    def waiting_writes(self) -> int:
        """Changes accepted but not yet written to the graph (a write-behind buffer)."""
        return 0

    def check(self) -> None:
        """Raise SinkError with a one-line reason when the sink cannot be used."""
        self.read_graph()

    def close(self) -> None:  # noqa: B027 - optional hook, most sinks hold nothing open
        """Release connections."""


def make_sink(settings: Settings, connection: redis.Redis | None = None) -> GraphSink:
    """The configured sink; the JupiterOne one keeps its mirror in `connection`'s Redis."""
    if settings.graph_sink == "local":
        from common.sinks.local import LocalSink

        return LocalSink(settings.local_graph_path)
    from common import metrics
    from common.jupiterone import JupiterOneClient
    from common.ratelimit import RedisRequestBudget
    from common.sinks.jupiterone import JupiterOneSink
    from common.state import connect

    if settings.jupiterone_account_id is None or settings.jupiterone_api_key is None:
        raise ConfigError(
            "JUPITERONE_ACCOUNT_ID and JUPITERONE_API_KEY required when GRAPH_SINK=jupiterone"
        )
    connection = connection or connect(settings.redis_url)
    client = JupiterOneClient(
        settings.jupiterone_account_id,
        settings.jupiterone_api_key.get_secret_value(),
        settings.jupiterone_api_url,
        settings.jupiterone_graphql_url,
        on_request=metrics.jupiterone_request,
        budget=RedisRequestBudget(
            connection, f"jupiterone:{settings.jupiterone_account_id}", limit=1_000_000
        ),
    )
    return JupiterOneSink(client, connection, settings.jupiterone_scope)
