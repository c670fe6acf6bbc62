"""Parses OpenMetrics text from stdin with the reference Prometheus client
parser and prints the families as JSON: {name: {"type": t, "samples":
[[sample_name, labels, value], ...]}}. Exit 3 if the parser is missing."""
import json
import sys

try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError:
    sys.exit(3)

out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    out[fam.name] = {
        "type": fam.type,
        "samples": [[s.name, s.labels, s.value] for s in fam.samples],
    }
print(json.dumps(out))
