"""Review settings files shipped with curation (see curation/review/config.py)."""
