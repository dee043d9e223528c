"""``python -m openqci`` runs the command line."""

from openqci.cli import main

main()
