"""The face: the ASGI application (app.py), the pages and APIs of every domain in a folder of
its own (web/<domain>/), and what they share (context, auth, guards, templates, security
headers). Routes translate HTTP to the services below and back; no logic of a domain lives here."""
