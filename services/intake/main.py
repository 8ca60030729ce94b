"""The ASGI entry point uvicorn serves: ``services.intake.main:app``.

Everything built so far (modules, FastAPI's routes, pydantic's validators: ~100,000
objects) lives as long as the process, so it is frozen out of the cyclic garbage collector:
a full collection walked all of it, ~80 ms of CPU each time, a stall every request in
flight waited out. The young generation's threshold stays as it is: raising it saved a
little CPU but made each young collection a pause of tens of milliseconds.
"""

import gc

from services.common.settings import get_settings
from services.common.tracing import setup as setup_tracing
from services.intake.app import create_app

setup_tracing("intake", get_settings().otlp_endpoint)  # off unless SHOUWEN_OTLP_ENDPOINT
app = create_app(get_settings())
gc.freeze()
