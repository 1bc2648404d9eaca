"""elicit: the elicitation controller (stimulus protocol, clip player, participant window, markers).

Qt is imported only by elicit/window.py and elicit/app.py, and only when a window is made.
"""
