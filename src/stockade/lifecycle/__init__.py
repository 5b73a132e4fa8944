"""Release lifecycle: yank, delete, restore, archive, closed releases."""
