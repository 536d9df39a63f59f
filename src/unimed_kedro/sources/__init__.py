"""Source readers: the `Source` contract (`base`), path safety (`paths`), row-level table
reading (`tables`), the registry of every source's folder and reader (`registry`), and
one folder per layout family (`cxr/`, ...) holding its readers and registry entries."""
