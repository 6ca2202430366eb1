"""The functions' Logger and Metrics, defined once and imported everywhere.

Powertools reads ``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_LOG_LEVEL`` and
``POWERTOOLS_METRICS_NAMESPACE``; the namespace defaults to ``DeviceFleet`` so metrics are
never dropped for want of one. Tracer is left out on purpose: it needs aws-xray-sdk, which
the runtime does not ship, and its import cost would eat the cold-start budget.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics

__all__ = ["logger", "metrics", "NAMESPACE", "SERVICE"]

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "DeviceFleet"
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "device-fleet"

logger = Logger(service=SERVICE)
#: Also handed to the batch layer (``BatchClient(metrics=metrics)``), so its per-call
#: metrics land in the function's namespace next to the function's own.
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
