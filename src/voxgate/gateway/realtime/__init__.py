"""Realtime sessions: relayed to a realtime provider, or served locally as a cascade.

Both paths share the client side (guarded reads, both event dialects) and the session's bill.
"""
