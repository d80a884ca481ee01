"""``python -m firstpitch``: the command line, as the ``firstpitch`` entry point runs it."""

from firstpitch.cli import main

main()
