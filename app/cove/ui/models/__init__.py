"""Models in the window: presenter, Models window and the Models page of Settings."""
