"""``uvicorn services.ledger.main:app``: the ledger app on the environment's settings."""

from services.common.settings import get_settings
from services.ledger.app import create_app

app = create_app(get_settings())
