"""TUF (PEP 458): signed metadata over every distribution file and simple page.

``models`` (the tables), ``keys`` (key files and signers), ``roles`` (building and signing each
role's metadata), ``repository`` (``tuf init`` and ``sign-root``), ``publish`` (the batch that
re-targets changed projects and re-signs bins, snapshot and timestamp), ``job`` (the job and
each worker's batch loop), ``reads`` (what the web app serves).
"""
