"""Evaluators judge candidates: the protocol, metric parsing, integrity, built-in evaluators."""
