"""The HTTP edge the apps share (intake, the ledger, the dashboard): the wiring a request
reaches (pool, directory, repository, calendars) and the authenticated caller."""
