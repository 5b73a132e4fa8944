"""Project management pages: your projects, a project's roles, invitations and settings."""
