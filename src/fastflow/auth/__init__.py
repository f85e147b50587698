"""Authentication: users, password hashing, bearer tokens."""
