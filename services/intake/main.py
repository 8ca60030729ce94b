"""The ASGI entry point uvicorn serves: ``services.intake.main:app``."""

from services.common.settings import get_settings
from services.intake.app import create_app

app = create_app(get_settings())
