"""Proposers: where candidates come from (an LLM, or evolution over a declared space)."""
