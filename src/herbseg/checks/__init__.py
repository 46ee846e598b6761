"""Start-up checks: a config or input that cannot work stops the run before any job, in one
sentence naming the key."""
