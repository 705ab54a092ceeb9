"""`python -m eventlens` runs the `eventlens` command."""

from eventlens.cli import main

main()
