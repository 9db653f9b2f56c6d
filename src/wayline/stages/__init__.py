"""Lifecycle stages kept current as events arrive (the workspace's stage model)."""
