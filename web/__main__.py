"""`python -m web`: the Procfile's web process (see web.serve)."""

from web.serve import main

main()
