"""``python -m fsr`` is the ``fsr`` command."""

from fsr.cli import main

if __name__ == "__main__":  # guard: multiprocessing re-imports the main module in its children
    main()
