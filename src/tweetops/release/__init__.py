"""From a trained bundle to the champion: evaluation, the one renderer of metrics, the run's reports and
model card, the gate, MLflow tracking, the registry, publishing and the pull-request report.
"""
