"""Trust zones: trusted relations versus the DMZ, and promotion across the line."""
