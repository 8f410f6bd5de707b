"""The sync engine: diff-based pushes, incremental pulls, and the nightly run that orders them."""
