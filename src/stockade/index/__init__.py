"""The index: projects, releases, files and roles, their journal, and the simple pages rendered
from them on every change (served by the face, web/index/)."""
