"""Routing: who handles a received case (DOMAIN.md section 3).

    classify   the matter catalogue's keywords -> a matter, or unclear (pure)
    rules      decide / choose_handler / escalation_ladder (pure)
    router     the consumer's handler: load, decide, append through CaseRepository
    worker     the faust-streaming app (``shouwen routing``)
"""
