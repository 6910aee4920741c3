"""Flask-SQLAlchemy: hand refkit the app's engine, once it exists."""

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import inspect

from refkit_flask import RefKit

db = SQLAlchemy()
referrals = RefKit(store=lambda app: db.engine)  # called inside an app context


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="dev only: 32+ random characters!",
        SQLALCHEMY_DATABASE_URI="sqlite:///shop.db",  # or postgresql+psycopg://...
    )
    db.init_app(app)  # first: the engine must exist before refkit asks for it
    referrals.init_app(app)
    return app


app = create_app()
with app.app_context():
    referrals.program.create_all()
    assert "refkit_referrals" in inspect(db.engine).get_table_names()
