"""Notification: messages to inquirers, staff and leaders, exactly-once in effect.

    rules      which messages an event causes (recipients, channels, templates): pure
    render     Jinja2 templates in zh-CN and en (package data), StrictUndefined
    limits     per-recipient rate, daily caps per channel, retry backoff: pure
    planner    the consumer's handler: pending delivery records beside the inbox row
    claim / sender / outcomes   the sender loop: claim, send, mark + case events
    channels   SMTP, SMS gateway and webhook (HTTP, Idempotency-Key), in-app inbox
    worker     the faust app + sender thread (``shouwen notification``)
    devservers ``shouwen mail-server``: a local SMTP server and SMS gateway for development
"""
