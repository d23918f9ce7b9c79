"""The encrypted history in the window: session, presenter, sidebar and unlock page."""
