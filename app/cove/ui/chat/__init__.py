"""The chat: main window, controller, message model, view and composer."""
