"""Routing: who handles a received case (DOMAIN.md section 3).

    classify   what routing knows of a matter (Classification, suggestions) and classify()
    retrieval  the classifier: jieba words, bigrams, pinyin, BM25 over the catalogue (pure)
    keywords   the first, keyword classifier: the accuracy bench's baseline (pure)
    rules      decide / choose_handler / escalation_ladder (pure)
    router     the consumer's handler: load, decide, append through CaseRepository
    learning   routing_outcomes, proposed example phrasings and their review, the report
    worker     the faust-streaming app (``shouwen routing``); cli: examples, report
"""
