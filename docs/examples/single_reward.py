"""The single-reward rules: one referrer, one reward, one level, no cycles."""

from decimal import Decimal

import refkit

program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!",
    store="memory://",
    rules=refkit.RewardRules(referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR")),
)
ann, ben, cat = "ann", "ben", "cat"
program.attribute(ben, program.code_for(ann))  # Ann brought Ben
program.attribute(cat, program.code_for(ben))  # Ben brought Cat

# One level: when Cat buys, Ben (her referrer) is rewarded; Ann, above him, never is.
first = program.record_conversion("order-1", cat, "30.00", "EUR")
assert [r.beneficiary_id for r in first.rewards] == [ben]

# One reward per referee: Cat's later orders earn Ben nothing more.
second = program.record_conversion("order-2", cat, "30.00", "EUR")
assert second.rewards == () and second.reasons == ("already_rewarded",)

# One referrer, for good: the first binding wins.
try:
    program.attribute(cat, program.code_for(ann))
except refkit.AlreadyReferred as error:
    assert error.referrer_id == ben  # "user 'cat' was already referred by 'ben'; ..."
else:
    raise AssertionError("a referee changed referrer")

# No self-referral and no cycle: Ann cannot be referred by Ben, whom she referred.
for referrer in (ann, ben):
    try:
        program.attribute(ann, program.code_for(referrer))
    except refkit.SelfReferral:
        pass
    else:
        raise AssertionError("a referral cycle was accepted")
