"""`python -m nimplane` runs the command line."""

from nimplane.cli.main import main

main()
