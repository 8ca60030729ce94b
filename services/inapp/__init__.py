"""The in-app inbox of staff members: ``services.inapp.staff_inbox``."""
