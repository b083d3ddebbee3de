"""`python -m agent.cli` is `strop`."""

from agent.cli import main

main()
