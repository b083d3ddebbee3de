"""`python -m agent.cli` is `strop`."""

from agent.launcher import in_utf8_mode

in_utf8_mode()

from agent.cli import main  # noqa: E402

main()
