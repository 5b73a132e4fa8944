"""Password reset and account recovery pages, and the administrators' recovery queue."""
