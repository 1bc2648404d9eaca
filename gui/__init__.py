"""What both windows (monitor/, elicit/) share to start Qt: the binding check, the QApplication, teardown."""
