"""Release lifecycle pages: yank, delete, restore and archive."""
