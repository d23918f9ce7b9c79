"""Network guard and offline environment."""
