"""Background jobs: named, idempotent, one worker at a time (a database lock), each run recorded.

Run once with ``stockade jobs run NAME``; the in-process scheduler (setting ``scheduler``) runs
each job when it is due.
"""
