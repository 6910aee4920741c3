"""fastapi_shop.py: refkit's core in a FastAPI app (``fastapi dev fastapi_shop.py``).

The landing route keeps the referral in a signed cookie; sign-up binds it; checkout records
the purchase. Your own login replaces the ``user_id`` fields.
"""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal

from fastapi import Cookie, FastAPI, HTTPException
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

import refkit

SECRET_KEY = os.environ.get("REFKIT_SECRET_KEY", "dev only: set 32+ random characters")
WINDOW = timedelta(days=30)
program = refkit.ReferralProgram(
    secret_key=SECRET_KEY,
    store=os.environ.get("REFKIT_DATABASE_URL", "sqlite:///refkit.db"),
    rules=refkit.RewardRules(
        referrer_reward=refkit.Reward.percent(10, cap=Decimal("20")),
        referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        attribution_window=WINDOW,
        hold_period=timedelta(days=14),
    ),
)
cookies = refkit.TokenSigner(SECRET_KEY, "referral-cookie", max_age=WINDOW)
app = FastAPI()


@app.get("/r/{code}")
def landing(code: str, refkit_referral: str | None = Cookie(default=None)) -> RedirectResponse:
    """A share link: count the visit, remember the code (first touch wins), go home."""
    response = RedirectResponse("/", status_code=302)
    try:
        code = program.verify(code)  # offline check; canonical form
        program.record_visit(code)
    except refkit.InvalidCode:
        return response  # a bad code: no cookie, nothing recorded
    if refkit_referral is None:
        response.set_cookie(
            "refkit_referral",
            cookies.dumps({"code": code}),
            max_age=int(WINDOW.total_seconds()),
            httponly=True,
            samesite="lax",
        )
    return response


class Signup(BaseModel):
    user_id: str


@app.post("/signup")
def signup(body: Signup, refkit_referral: str | None = Cookie(default=None)) -> dict[str, str]:
    # ... create the account, then bind the referral, if the visitor came with one:
    if refkit_referral is not None:
        try:
            code = cookies.loads(refkit_referral)["code"]
            program.attribute(body.user_id, code)
        except (refkit.InvalidToken, refkit.InvalidCode, refkit.SelfReferral):
            pass  # an expired or forged cookie, or their own code: no referral
    return {"user_id": body.user_id}


class Order(BaseModel):
    order_id: str
    user_id: str
    amount: Decimal
    currency: str = "EUR"


@app.post("/orders/paid")
def order_paid(order: Order) -> dict[str, object]:
    """Call it when the payment succeeded (a webhook, say): safe to repeat."""
    try:
        conversion = program.record_conversion(
            order.order_id, order.user_id, order.amount, order.currency
        )
    except refkit.ConflictError as error:
        raise HTTPException(409, str(error)) from None
    return {"reasons": list(conversion.reasons), "rewards": len(conversion.rewards)}


@app.get("/users/{user_id}/referrals")
def my_referrals(user_id: str) -> dict[str, object]:
    stats = program.stats_for(user_id)  # check that user_id is the logged-in user!
    return {"code": program.code_for(user_id), "signups": stats.signups, "balance": stats.balance}
