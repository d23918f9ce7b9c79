"""Qt-free note drafting: notes, writing actions, the review diff, files and Ask-my-notes."""
