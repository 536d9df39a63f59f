"""Collections, one folder each (`cxr`, ...): which sources and stages each is made of.
The pipeline registry finds them here; the stages themselves are in `stages/`."""
