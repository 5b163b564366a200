"""Prometheus metrics of one server instance (own registry, so test servers don't collide).

Counters are bumped where things happen (messages received, answers stored, HTTP errors). The
gauges are one snapshot of ``/v1/stats`` taken at scrape time (a custom collector): the two
views of the server cannot disagree, and the metrics need nothing of the service but that
snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from reward_server.schemas import StatsOut

#: gauge name → (help, how to read it from a stats snapshot)
GAUGES: dict[str, tuple[str, Callable[[StatsOut], float | None]]] = {
    "oni_queue_depth": ("Messages waiting for the LLM", lambda s: s.queued),
    "oni_llm_in_flight": ("LLM requests in flight", lambda s: s.in_flight),
    "oni_llm_failures": ("LLM calls that failed after all retries (message re-queued)", lambda s: s.llm_failures),
    "oni_llm_rejected": ("LLM requests refused for good (stored as failed)", lambda s: s.llm_rejected),
    "oni_queue_deferred": ("Messages that found the queue full and waited in the store", lambda s: s.deferred),
    "oni_llm_retries": ("LLM calls retried", lambda s: s.llm_retries),
    "oni_llm_circuit_open": ("LLM circuit breaker: 0 closed, 0.5 half-open (probing), 1 open",
                             lambda s: {"closed": 0.0, "half_open": 0.5, "open": 1.0}[s.llm_circuit]),
    "oni_llm_circuit_opened": ("Times the LLM circuit breaker opened", lambda s: s.llm_circuit_opened),
    "oni_llm_circuit_rejected": ("LLM calls refused while the breaker was open", lambda s: s.llm_circuit_rejected),
    "oni_workers_alive": ("Annotator workers running", lambda s: s.workers_alive),
    "oni_worker_errors": ("Unexpected errors in annotator workers", lambda s: s.worker_errors),
    "oni_table_version": ("Reward-table version", lambda s: s.table_version),
    "oni_table_size": ("Messages in the reward table", lambda s: s.table_size),
    "oni_table_positive_share": ("Share of table messages with positive reward", lambda s: s.positive_share),
    "oni_recent_paid_share": ("Share of the last block of message reports the table paid", lambda s: s.recent_paid_share),
    "oni_label_threshold": ("Log-odds cut above which a message is labelled helpful", lambda s: s.threshold),
    "oni_preferences": ("Preferences the ranking model learns from", lambda s: s.preferences),
    "oni_model_version": ("Fits of the learned reward model (0 for retrieval)", lambda s: s.model_version),
    "oni_model_train_accuracy": ("Training accuracy of the last fit (labels, or preference agreement)",
                                 lambda s: s.train_accuracy),
    "oni_model_heldout_accuracy": ("Balanced accuracy of the last fit on held-out message families",
                                   lambda s: s.heldout_accuracy),
}


class StatsCollector(Collector):
    """Every gauge of :data:`GAUGES` from one stats snapshot per scrape."""

    def __init__(self, stats: Callable[[], StatsOut]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot = self._stats()
        for name, (documentation, read) in GAUGES.items():
            value = read(snapshot)
            yield GaugeMetricFamily(name, documentation, value=float("nan") if value is None else float(value))


class ServerMetrics:
    """Counters bumped by the service and the HTTP layer, and the stats gauges."""

    def __init__(self, stats: Callable[[], StatsOut]) -> None:
        self.registry = registry = CollectorRegistry()
        self.messages_received = Counter("oni_messages_received", "Message reports accepted", registry=registry)
        self.messages_new = Counter(
            "oni_messages_new", "Distinct messages seen for the first time", registry=registry
        )
        self.annotations = Counter("oni_annotations", "LLM judgements stored", ["outcome"], registry=registry)
        self.store_latency = Histogram(
            "oni_annotation_store_seconds", "Time to store one LLM judgement", registry=registry
        )
        self.http_errors = Counter("oni_http_errors", "Requests answered with an error", ["status"], registry=registry)
        registry.register(StatsCollector(stats))
