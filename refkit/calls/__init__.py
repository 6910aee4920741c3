"""The calls of :class:`refkit.ReferralProgram`, one mixin class per job, in the data's order:

* :mod:`~refkit.calls.links`: codes and links (``code_for``, ``link_for``, ``verify``,
  ``resolve``, ``revoke_code``);
* :mod:`~refkit.calls.attribution`: visits and referrals (``record_visit``, ``attribute``,
  ``referral_for``);
* :mod:`~refkit.calls.conversions`: purchases and their rewards (``record_conversion``,
  ``refund``, ``approve_due``, ``approve``, ``revoke``, ``rewards``, ``ledger``...);
* :mod:`~refkit.calls.credit`: spending credit (``balance``, ``redeem``, ``pay_out``,
  ``expire_credit``, ``balances``);
* :mod:`~refkit.calls.privacy`: review and privacy (``identify``, ``fingerprint``,
  ``flagged_referrals``, ``clear_flags``, ``purge_signals``, ``erase``, ``rotate_keys``).

The friend's discount at checkout is :mod:`refkit.discounts`. Each mixin validates its input
and runs one step (:mod:`refkit.steps`) through the helpers :mod:`refkit.calls.base` declares
and :mod:`refkit.program` defines. Import the program from :mod:`refkit`, never from here.
"""
