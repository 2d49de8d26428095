"""Health, readiness and Prometheus metrics of a running bot process."""
