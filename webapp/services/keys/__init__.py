"""Keys and tokens: the keyring (secrets, public keys, rotation), verifying tokens, one-time jtis,
the rejection log, origin refusals, the token debugger and its forensics, pruning.
"""
