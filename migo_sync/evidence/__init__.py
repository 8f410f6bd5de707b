"""What a run leaves behind besides its warehouse record: its log, run_results.json, its HTML
report, and the alerts it sends. Files live under the project's `.migo-sync/`."""
