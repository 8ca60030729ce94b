"""``uvicorn services.ledger.main:app``: the ledger app on the environment's settings."""

from services.common.settings import get_settings
from services.common.tracing import setup as setup_tracing
from services.ledger.app import create_app

setup_tracing("ledger", get_settings().otlp_endpoint)  # off unless SHOUWEN_OTLP_ENDPOINT
app = create_app(get_settings())
