"""Where things are, as absolute paths, and the template the project installs.

Every test reaches the repository and the ``../shared`` folder beside it through
these, so the suite does not depend on the working directory.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# <repository>/../shared holds the contract, the captures of a real Kapacitor and
# the records Debezium wrote.
SHARED = ROOT.parent / "shared"
CAPTURES = SHARED / "kapacitor-captures"
DEBEZIUM_RECORDS = SHARED / "debezium-records"

FUNCTIONS_SOURCE = ROOT / "functions" / "main.py"
# The manifest folders the KafkaSource stand-in and the local stack read.
SOURCES_DIR = ROOT / "kafka-sources"
SINKS_DIR = ROOT / "knative"

# The template the lifecycle functions make every task from (KAPACITOR_TEMPLATE_ID).
TEMPLATE_ID = "measurement_series_not_fed_template"
