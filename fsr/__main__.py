"""``python -m fsr`` is the ``fsr`` command."""

from fsr.cli import main

main()
