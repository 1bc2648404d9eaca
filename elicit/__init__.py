"""elicit"""
