"""Conversations and messages: the widget's side (conversations.py) and the staff inbox (inbox.py).
"""
