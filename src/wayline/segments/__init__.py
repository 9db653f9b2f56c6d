"""Segments: audiences defined in YAML, kept current as each event arrives."""
