"""``python -m hexgate.inproc <gateway pid>``: a model worker process (:mod:`hexgate.inproc.child`)."""

from hexgate.inproc.child import main

main()
