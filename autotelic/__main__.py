"""``python -m autotelic`` (also what ``accelerate launch -m autotelic`` runs)."""
from .cli import main

raise SystemExit(main())
