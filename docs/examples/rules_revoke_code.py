"""A code leaked to a coupon site: withdraw it, keep the referrals it made."""

import refkit

program = refkit.ReferralProgram(secret_key="dev only: 32+ random characters!", store="memory://")
leaked = program.code_for("alice")
program.attribute("bob", leaked)

new_code = program.revoke_code("alice")
try:
    program.resolve(leaked)
except refkit.InvalidCode as error:
    assert error.reason == "revoked"
else:
    raise AssertionError("a revoked code must not resolve")
assert program.resolve(new_code) == "alice"
assert program.referral_for("bob").referrer_id == "alice"  # referrals made stay
