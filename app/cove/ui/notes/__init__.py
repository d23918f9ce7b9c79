"""The notes workspace: list, editor, review pane and the writing actions."""
