"""Settings: the presenter that owns settings.json, the dialog, the privacy panel."""
