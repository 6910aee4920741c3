"""PostgreSQL: a URL, and the tables created (or upgraded) once at deploy time."""

import os

import refkit

# postgresql+psycopg://user:password@host/dbname (pip install 'refkit-referrals[postgres]')
url = os.environ["REFKIT_DATABASE_URL"]
program = refkit.ReferralProgram(secret_key=os.environ["REFKIT_SECRET_KEY"], store=url)
program.create_all()  # idempotent; `refkit init` or `flask refkit init-db` do the same

program.attribute("bob", program.code_for("alice"))
assert program.referral_for("bob").referrer_id == "alice"
program.store.close()  # at shutdown: release the pooled connections
