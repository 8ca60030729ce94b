"""Accountability procedure (问责程序) and evaluation (考评): DOMAIN.md sections 5 to 7.

    procedure   the procedure's stages, which step is allowed now, its due dates
    folding     the procedure's state from the events on its case's stream
    chain       the responsibility chain proposed for the persons complained about
    sanctions   the sanction proposed from the repeat count and the circumstances
    evaluation  yearly score and grade, the 12345 appraisal rates
    (pure rules above; I/O below)
    store       the procedure index, the findings that count repeats, assessment scores
    facts       the year's cases and deadlines of a person or unit, read from the store
    models      request bodies;  payloads: each step's event;  views: what is shown
    commands    one command -> one event on the case's stream, in the caller's transaction
"""
