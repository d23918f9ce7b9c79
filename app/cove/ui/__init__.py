"""The Qt front end: main window, chat view, composer and the controller between them."""
