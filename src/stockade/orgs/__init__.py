"""Organizations (members, teams, the projects they own) and PEP 752 namespaces."""
