"""Dashboard → Inbox: the conversation list, a thread, a staff reply, close and reopen.
"""
