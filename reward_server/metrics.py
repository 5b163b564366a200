"""Prometheus metrics of one server instance (own registry, so test servers don't collide)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from reward_server.service import RewardService


class ServerMetrics:
    """Counters bumped by the service, and gauges read live from it at scrape time."""

    def __init__(self, service: RewardService) -> None:
        self.registry = registry = CollectorRegistry()
        self.messages_received = Counter(
            "oni_messages_received", "Message reports accepted", registry=registry
        )
        self.messages_new = Counter(
            "oni_messages_new", "Distinct messages seen for the first time", registry=registry
        )
        self.annotations = Counter(
            "oni_annotations", "LLM judgements stored", ["outcome"], registry=registry
        )
        self.store_latency = Histogram(
            "oni_annotation_store_seconds", "Time to store one LLM judgement", registry=registry
        )
        self.http_errors = Counter(
            "oni_http_errors", "Requests answered with an error", ["status"], registry=registry
        )
        live = {
            "oni_queue_depth": ("Messages waiting for the LLM", lambda: service.annotator.pending),
            "oni_llm_in_flight": ("LLM requests in flight", lambda: service.annotator.in_flight),
            "oni_llm_failures": (
                "LLM calls that failed after all retries (message re-queued)",
                lambda: service.annotator.stats.llm_failures,
            ),
            "oni_queue_deferred": (
                "Messages that found the queue full and waited in the store",
                lambda: service.annotator.stats.deferred,
            ),
            "oni_llm_retries": ("LLM calls retried", lambda: service.judge.retries),
            "oni_llm_circuit_open": (
                "LLM circuit breaker: 0 closed, 0.5 half-open (probing), 1 open",
                lambda: {"closed": 0.0, "half_open": 0.5, "open": 1.0}[service.judge.breaker.state],
            ),
            "oni_llm_circuit_opened": ("Times the LLM circuit breaker opened", lambda: service.judge.breaker.opened),
            "oni_llm_circuit_rejected": (
                "LLM calls refused while the breaker was open", lambda: service.judge.breaker.rejected
            ),
            "oni_table_version": ("Reward-table version", lambda: service.table.version),
            "oni_table_size": ("Messages in the reward table", lambda: len(service.table.rewards)),
            "oni_table_positive_share": (
                "Share of table messages with positive reward",
                lambda: service.table.positive_share(),
            ),
            "oni_label_threshold": (
                "Log-odds threshold above which a message is labelled helpful",
                lambda: service.retrieval.calibrator.threshold,
            ),
            "oni_preferences": ("Preferences the ranking model learns from", lambda: service.preference_count),
            "oni_model_version": (
                "Fits of the learned reward model (0 for retrieval)",
                lambda: service.learner.version if service.learner else 0,
            ),
            "oni_model_train_accuracy": (
                "Training accuracy of the last fit (labels, or preference agreement for ranking)",
                lambda: _or_nan(service.learner.report.train_accuracy if service.learner and service.learner.report else None),
            ),
            "oni_model_heldout_accuracy": (
                "Balanced accuracy of the last fit on held-out message families (classification)",
                lambda: _or_nan(service.learner.report.heldout_accuracy if service.learner and service.learner.report else None),
            ),
        }
        for name, (doc, read) in live.items():
            Gauge(name, doc, registry=registry).set_function(read)


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value
