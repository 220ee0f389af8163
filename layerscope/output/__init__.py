"""Outputs without a UI: the JSON report, the CI verdict and its rules, the report's file."""
