"""Prometheus metrics of one server (prometheus-client, its own registry so several apps can coexist).

``vqa2_requests_total{endpoint,status}``   requests answered, by endpoint and HTTP status
``vqa2_request_seconds{endpoint}``         latency histogram (seconds, accept → answer)
``vqa2_queue_depth``                       unfinished jobs (decoding, waiting, on the model)
``vqa2_peak_gpu_memory_bytes``             highest peak CUDA memory of any request (0 on CPU)
``vqa2_ready``                             1 when the weights are loaded and the server is not draining
"""

from __future__ import annotations

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vqa2_requests", "Requests answered", ("endpoint", "status"), registry=self.registry
        )
        self.latency = Histogram(
            "vqa2_request_seconds",
            "Request latency in seconds",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "vqa2_queue_depth", "Unfinished jobs in the work queue", registry=self.registry
        )
        self.peak_gpu = Gauge(
            "vqa2_peak_gpu_memory_bytes",
            "Highest per-request peak CUDA memory (bytes)",
            registry=self.registry,
        )
        self.ready = Gauge(
            "vqa2_ready", "1 when the model is loaded and requests are accepted", registry=self.registry
        )
        self._peak = 0.0

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint=endpoint, status=str(status)).inc()
        self.latency.labels(endpoint=endpoint).observe(seconds)

    def note_peak_gpu(self, gigabytes: float | None) -> None:
        if gigabytes is not None:
            self._peak = max(self._peak, gigabytes * 1e9)
            self.peak_gpu.set(self._peak)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
