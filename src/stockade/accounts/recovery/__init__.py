"""Getting an account back: password reset by mail, and admin-reviewed account recovery."""
