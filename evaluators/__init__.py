"""strop package."""
