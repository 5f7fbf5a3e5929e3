"""What people read.

Status tables, notebook displays, text, log records, the command line and what the
OpenTelemetry hook reports.
"""
