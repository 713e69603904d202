"""A workspace (tenant) and its staff: settings, members and invitations, staff tokens, login
throttles, seats, demo seeding, and the small value rules their forms share.
"""
