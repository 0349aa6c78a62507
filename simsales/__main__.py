"""``python -m simsales``: the same command line as ``simsales`` (where the script is not on
the path, as in a notebook's kernel or a virtual environment not activated)."""

from simsales.cli import main

main()
