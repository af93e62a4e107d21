"""``python -m heartgrpo.heart``: measure the heart-topic classifier (see :mod:`heartgrpo.heart.measure`)."""

from heartgrpo.heart.measure import main

raise SystemExit(main())
