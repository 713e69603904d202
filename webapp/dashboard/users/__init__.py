"""Dashboard → Users and Organizations: search, lists, a page each, the CSV export.
"""
