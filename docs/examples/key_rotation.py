"""Rotating the secret key without breaking the codes and links already shared."""

import refkit

OLD_KEY = "the key the shop used until today, 32+ chars"
NEW_KEY = "the new random key, also 32 or more characters"

before = refkit.ReferralProgram(secret_key=OLD_KEY, store="memory://")
shared = before.code_for("alice")  # printed on flyers, sitting in inboxes...

# Newest key first; older keys still verify what they signed.
after = refkit.ReferralProgram(secret_key=[NEW_KEY, OLD_KEY], store=before.store)
assert after.resolve(shared) == "alice"
assert after.code_for("alice") != shared  # new codes are signed with the newest key
assert after.resolve(after.code_for("alice")) == "alice"

# Before the old key leaves the list: keep the users erased under it erased
# (the command line: `refkit rotate-keys`, or `flask refkit rotate-keys`).
erased = before.erase("bob")
after.rotate_keys()

# Once the old key is dropped, its codes are refused: a leaked key stops working.
only_new = refkit.ReferralProgram(secret_key=NEW_KEY, store=before.store)
assert only_new.erase("bob") == erased  # bob is still known under his pseudonym
try:
    only_new.resolve(shared)
except refkit.InvalidCode as error:
    assert error.reason == "bad_signature"
else:
    raise AssertionError("a code signed with a dropped key was accepted")
